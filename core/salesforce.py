"""A simple-salesforce client for the org this deployment syncs with, from `cfg.salesforce`.

The app itself never calls Salesforce (Connect does); operations tools do — `verify-sync` checks
the sync from both ends. Which org:
- SF_INSTANCE_URL + SF_SESSION_ID: an existing session (e.g. from `sf org display`);
- SF_USERNAME + SF_PASSWORD (+ SF_SECURITY_TOKEN, SF_DOMAIN=login|test): a password login;
- LOCAL_ORG_URL: the local org stand-in on loopback (plain http; see LoopbackAdapter).
"""

from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from core import config


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


def connect(org: config.Salesforce, *, username: str = "developer@local.org", password: str = "local") -> Salesforce:
    """A logged-in client for the configured org; ConfigError when none is configured.

    `username`/`password` are only for the local org (which accepts any password unless it was
    started with LOCAL_ORG_PASSWORD); a real org's credentials come from SF_* variables.
    """
    if org.instance_url:
        return Salesforce(instance_url=org.instance_url, session_id=org.session_id)
    if org.username:
        return Salesforce(username=org.username, password=org.password, security_token=org.security_token,
                          domain=org.domain)
    if org.local_url:
        url = org.local_url
        return Salesforce(username=username, password=password, security_token="",
                          instance=urlsplit(url).netloc, domain="login", session=loopback_session(url))
    raise config.ConfigError("No Salesforce org configured: set SF_USERNAME/SF_PASSWORD (or "
                             "SF_INSTANCE_URL/SF_SESSION_ID) for a real org, or LOCAL_ORG_URL for the local one.")


def metadata(sf: Salesforce):
    """simple-salesforce's Metadata API client, reaching the same org as `sf`.

    The Metadata API client is a zeep SOAP client with its own requests session: for an org served
    over loopback it needs the same URL rewrite as the REST session.
    """
    md = sf.mdapi
    adapter = sf.session.get_adapter("https://x") if sf.session else None
    if isinstance(adapter, LoopbackAdapter):
        zeep_session = md._client.transport.session
        zeep_session.trust_env = False
        zeep_session.mount("https://", adapter)
    return md
