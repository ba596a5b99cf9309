"""The one CSRF guard: every unsafe request to any route carries the session's token, or is refused.

A cross-site page can make the browser send our cookie (and an operator's HTTP Basic
credentials), but cannot read the token out of our pages, so a POST, PUT, PATCH or DELETE
without the matching token (form field `csrf_token` or header `X-CSRF-Token`) is a 400. As a
second line, a request the browser itself marks as coming from another site is a 403 even with
the token. Calls that authenticate with an API token (`Authorization: Bearer …`) are exempt: no
browser adds that header on its own, and such a call is never authenticated by its cookie. So is an
API call that carries no credential at all (no logged-in session): there is nothing for a forged
request to ride on, and the API answers it 401 "log in first", as it answers any other.
Refusals are the app's error pages, or problem details for JSON clients (web/errors.py).
"""

import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, request, session

from web.identity import bearer_call, current_customer

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def token() -> str:
    """This session's CSRF token (created on first use)."""
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def valid() -> bool:
    """Whether this request's form field or header carries the session's token."""
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    expected = session.get(FIELD) or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def cross_site() -> bool:
    """True for a request a browser sent on behalf of another site."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    return bool(origin) and urlsplit(origin).netloc != request.host


def check() -> None:
    """Refuse an unsafe request from another site (403) or without the session's token (400)."""
    # No route matched: no view will run, so let the 404 or 405 answer rather than a CSRF refusal.
    if request.method not in UNSAFE_METHODS or request.routing_exception is not None:
        return
    # The second line, behind the token: browsers send an operator's HTTP Basic credentials on
    # cross-site posts too, and they say where a request comes from (Sec-Fetch-Site, Origin).
    if cross_site():
        abort(403, "This request came from another site. Use this app's own pages.")
    # The token is the credential; identity.current_customer ignores the cookie of a bearer call, and
    # the API answers 401 for a token it does not know.
    if bearer_call():
        return
    if request.path.startswith("/api/") and current_customer() is None:
        return
    if not valid():
        abort(400, "This form has expired or did not come from this site. Reload the page and submit it again "
                   "(scripts: send the X-CSRF-Token header, or use an API token).")


def init_app(app):
    """Check every unsafe request, and make `csrf_token()` available to every template."""
    app.before_request(check)
    app.jinja_env.globals["csrf_token"] = token
