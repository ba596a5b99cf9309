"""simple-salesforce pointed at the local org over plain http on loopback.

simple-salesforce always builds https:// URLs. A requests session whose https adapter rewrites each
request to http://127.0.0.1:PORT (path and query kept) lets the unchanged client talk to the local
org; `trust_env = False` keeps proxy and CA-bundle variables out of it.
"""

import os
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

DEFAULT_URL = "http://127.0.0.1:5100"


class LoopbackAdapter(HTTPAdapter):
    """Send https://<anything>/path?query to the local org's http://host:port/path?query."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url)

    def send(self, request, **kwargs):
        """Rewrite the URL, then send as usual."""
        parts = urlsplit(request.url)
        request.url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().send(request, **kwargs)


def session(url: str | None = None) -> requests.Session:
    """A requests session that reaches the local org whatever host simple-salesforce names."""
    s = requests.Session()
    s.trust_env = False
    s.mount("https://", LoopbackAdapter(url or os.environ.get("LOCAL_ORG_URL", DEFAULT_URL)))
    return s


def salesforce(url: str | None = None, username: str = "developer@local.org") -> Salesforce:
    """A logged-in simple_salesforce client for the local org (SOAP login, as with a real org)."""
    url = url or os.environ.get("LOCAL_ORG_URL", DEFAULT_URL)
    host = urlsplit(url).netloc
    return Salesforce(
        username=username,
        password=os.environ.get("LOCAL_ORG_PASSWORD", "local"),
        security_token="",
        instance=host,
        domain="login",
        session=session(url),
    )
