"""A simple-salesforce client for the org named by the environment.

Production code never calls Salesforce (Heroku Connect does); ops tools such as `verify-sync` do,
on Heroku as on a laptop. Which org:
- SF_INSTANCE_URL + SF_SESSION_ID: an existing session (e.g. from `sf org display`);
- SF_USERNAME + SF_PASSWORD (+ SF_SECURITY_TOKEN, SF_DOMAIN=login|test): a password login;
- otherwise LOCAL_ORG_URL: the local org stand-in (development and tests only).
"""

import os

from simple_salesforce import Salesforce


class NoOrgConfigured(RuntimeError):
    """No org credentials and no local org in the environment."""


def describe_target(env=None) -> str:
    """Which org the environment points at, for messages (no secrets)."""
    env = os.environ if env is None else env
    if env.get("SF_INSTANCE_URL") and env.get("SF_SESSION_ID"):
        return f"org at {env['SF_INSTANCE_URL']} (session id)"
    if env.get("SF_USERNAME"):
        return f"org of {env['SF_USERNAME']} ({env.get('SF_DOMAIN') or 'login'}.salesforce.com)"
    if env.get("LOCAL_ORG_URL"):
        return f"local org at {env['LOCAL_ORG_URL']}"
    return "no org"


def client(env=None) -> Salesforce:
    """A logged-in Salesforce client for the configured org (raises NoOrgConfigured)."""
    env = os.environ if env is None else env
    if env.get("SF_INSTANCE_URL") and env.get("SF_SESSION_ID"):
        return Salesforce(instance_url=env["SF_INSTANCE_URL"], session_id=env["SF_SESSION_ID"])
    if env.get("SF_USERNAME"):
        return Salesforce(
            username=env["SF_USERNAME"],
            password=env.get("SF_PASSWORD", ""),
            security_token=env.get("SF_SECURITY_TOKEN", ""),
            domain=env.get("SF_DOMAIN") or "login",
        )
    if env.get("LOCAL_ORG_URL"):
        return _local(env["LOCAL_ORG_URL"], env)
    raise NoOrgConfigured(
        "No Salesforce org configured: set SF_USERNAME/SF_PASSWORD/SF_SECURITY_TOKEN (SF_DOMAIN=test for a "
        "sandbox), or SF_INSTANCE_URL + SF_SESSION_ID; locally LOCAL_ORG_URL (make run sets it)."
    )


def _local(url: str, env) -> Salesforce:
    """The local org (simple-salesforce only speaks https; the stand-in's client rewrites to loopback)."""
    # Imported here so that a dyno, which never has LOCAL_ORG_URL, never imports the stand-ins.
    from standins.org.client import salesforce

    return salesforce(url)
