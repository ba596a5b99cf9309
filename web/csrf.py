"""CSRF protection for forms: a random token kept in the signed session, echoed by every form.

A cross-site page can make the browser send our cookie, but cannot read the token out of our
pages, so a POST without the matching token is refused. Calls authenticated by an API token
(no cookie involved) are exempt; the API with a session cookie is not.
"""

import hmac
import secrets

from flask import abort, g, request, session

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


def check() -> None:
    """Refuse an unsafe request whose form field or header does not carry the session's token."""
    if request.method not in UNSAFE_METHODS or g.get("api_token_user_id"):
        return
    if not valid():
        abort(400, "This form has expired or did not come from this site. Reload the page and try again.")


def protect(bp) -> None:
    """Check CSRF tokens on every unsafe request to the blueprint `bp`."""
    bp.before_request(check)


def init_app(app):
    """Make `csrf_token()` available to every template."""
    app.jinja_env.globals["csrf_token"] = token
