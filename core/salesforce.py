"""A simple-salesforce client for the org this deployment syncs with, from the environment.

The app itself never calls Salesforce (Connect does); operations tools do — `verify-sync` checks
the sync from both ends. Which org:
- SF_INSTANCE_URL + SF_SESSION_ID: an existing session (e.g. from `sf org display`);
- SF_USERNAME + SF_PASSWORD (+ SF_SECURITY_TOKEN, SF_DOMAIN=login|test): a password login;
- LOCAL_ORG_URL: the local org stand-in on loopback (plain http; see LoopbackAdapter).
"""

import os
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from core.config import ConfigError


class LoopbackAdapter(HTTPAdapter):
    """Send https://<any host>/path?query to base_url/path?query (simple-salesforce only speaks https)."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url)

    def send(self, request, **kwargs):
        """Rewrite the URL, then send as usual."""
        parts = urlsplit(request.url)
        request.url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().send(request, **kwargs)


def loopback_session(base_url: str) -> requests.Session:
    """A requests session for an org served over plain http on this machine."""
    s = requests.Session()
    s.trust_env = False  # no proxies or CA-bundle variables for a loopback address
    s.mount("https://", LoopbackAdapter(base_url))
    return s


def connect(env=None, *, username: str = "developer@local.org", password: str = "local") -> Salesforce:
    """A logged-in client for the configured org; ConfigError when none is configured.

    `username`/`password` are only for the local org (which accepts any password unless it was
    started with LOCAL_ORG_PASSWORD); a real org's credentials come from SF_* variables.
    """
    env = os.environ if env is None else env
    if env.get("SF_INSTANCE_URL") and env.get("SF_SESSION_ID"):
        return Salesforce(instance_url=env["SF_INSTANCE_URL"], session_id=env["SF_SESSION_ID"])
    if env.get("SF_USERNAME"):
        if not env.get("SF_PASSWORD"):
            raise ConfigError("SF_USERNAME is set but SF_PASSWORD is not.")
        return Salesforce(username=env["SF_USERNAME"], password=env["SF_PASSWORD"],
                          security_token=env.get("SF_SECURITY_TOKEN", ""), domain=env.get("SF_DOMAIN", "login"))
    if env.get("LOCAL_ORG_URL"):
        url = env["LOCAL_ORG_URL"]
        return Salesforce(username=username, password=password, security_token="",
                          instance=urlsplit(url).netloc, domain="login", session=loopback_session(url))
    raise ConfigError("No Salesforce org configured: set SF_USERNAME/SF_PASSWORD (or SF_INSTANCE_URL/SF_SESSION_ID) "
                      "for a real org, or LOCAL_ORG_URL for the local one.")
