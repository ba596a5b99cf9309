"""simple-salesforce pointed at the local org (plain http on loopback), for tools and tests."""

import os

from simple_salesforce import Salesforce

from core import config
from core import salesforce as org_client

DEFAULT_URL = "http://127.0.0.1:5100"


def session(url: str | None = None):
    """A requests session that reaches the local org whatever host simple-salesforce names."""
    return org_client.loopback_session(url or os.environ.get("LOCAL_ORG_URL", DEFAULT_URL))


def salesforce(url: str | None = None, username: str = "developer@local.org") -> Salesforce:
    """A logged-in simple_salesforce client for the local org (SOAP login, as with a real org)."""
    org = config.Salesforce(local_url=url or os.environ.get("LOCAL_ORG_URL", DEFAULT_URL))
    return org_client.connect(org, username=username, password=os.environ.get("LOCAL_ORG_PASSWORD", "local"))
