"""Who is asking: a portal customer (session or API token) or an operator (HTTP Basic). Shared by every blueprint.

Customer sessions live in Flask's signed cookie (nothing in process memory, so any dyno can serve
any request and a restart logs nobody out). The session holds only ids; every query re-scopes
by the account in SQL. A session ends on the server too: the cookie carries the login's
`session_version` from when it was issued, and each request compares it with the login's row (one
primary-key lookup); logout, "log out everywhere" and a password set by email add one to it, so a
copy of an earlier cookie is refused. A call with `Authorization: Bearer <token>` is authenticated by that token
alone (web/api.py checks it): its cookie, if any, is never read for who is asking. Operators
authenticate with OPS_USERNAME / OPS_PASSWORD (`cfg.ops`); when those are unset, ops pages are
off (404), never open.
"""

import hmac
from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized

from core import durations, logins
from web import database, rate_limits


@dataclass(frozen=True)
class Customer:
    """A logged-in portal user: an app login tied to a synced Contact and its Account."""

    user_id: int
    contact_sfid: str | None
    account_sfid: str
    # The Contact's External_ID__c: how it is found while it exists only in Postgres (sfid NULL).
    contact_external_id: str | None = None
    # The login's session_version when the session began (None for a call with an API token).
    session_version: int | None = None


def customer_for(user: dict) -> Customer:
    """The identity of a user row from core.logins (for a session, or for a request with an API token)."""
    return Customer(
        user_id=user["id"],
        contact_sfid=user["contact_sfid"],
        account_sfid=user["account_sfid"],
        contact_external_id=user["contact_external_id"],
        session_version=user.get("session_version"),
    )


def bearer_call() -> bool:
    """True for a call that authenticates with `Authorization: Bearer <token>` (an API token), not a cookie."""
    auth = request.authorization
    return auth is not None and auth.type == "bearer"


def current_customer() -> Customer | None:
    """The customer of this request's session, if any (a bearer call's comes from its token, set by the API)."""
    if "customer" not in g:
        # Never the cookie for a bearer call: the CSRF guard lets those through without the session's
        # token, so a bad token falling back to the cookie would carry a cookie-authenticated write past it.
        data = None if bearer_call() else session.get("customer")
        customer = Customer(**data) if isinstance(data, dict) else None
        g.customer = customer if customer is not None and _session_current(customer) else None
    return g.customer


def _session_current(customer: Customer) -> bool:
    """True while the login's session version is the one the cookie was issued with (not logged out since)."""
    if customer.session_version is None:
        return False
    conn = database.request_connection()
    version = logins.session_version(conn, current_app.config["APP"].app_schema, customer.user_id)
    return version == customer.session_version


def log_in(customer: Customer) -> None:
    """Start a session for `customer` (a fresh session id defeats fixation)."""
    session.clear()
    session["customer"] = {"user_id": customer.user_id, "contact_sfid": customer.contact_sfid,
                           "account_sfid": customer.account_sfid,
                           "contact_external_id": customer.contact_external_id,
                           "session_version": customer.session_version}
    session.permanent = True


def log_out() -> None:
    """End the session in the browser and on the server.

    There is one version per login, so this ends every session of the login, on every device: the
    profile's "log out everywhere" and the header's "log out" are the same act.
    """
    customer = current_customer()
    session.clear()
    g.customer = None
    if customer is not None:
        with database.connection() as conn:
            logins.end_sessions(conn, current_app.config["APP"].app_schema, customer.user_id)


def customer_required(view):
    """Send anonymous visitors to the login page (401 problem details on the API)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_customer() is None:
            if request.path.startswith("/api/"):
                abort(401, "Log in first: send a session cookie or an API token.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _ops():
    return current_app.config["APP"].ops


def is_operator() -> bool:
    """True when the request carries the operators' credentials."""
    expected = _ops()
    auth = request.authorization
    if not expected.enabled or auth is None or auth.type != "basic":
        return False
    return hmac.compare_digest((auth.username or "").encode(), expected.username.encode()) & hmac.compare_digest(
        (auth.password or "").encode(), expected.password.encode()
    )


def ops_required(view):
    """Operators only: HTTP Basic against OPS_USERNAME / OPS_PASSWORD; off (404) when they are unset."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not _ops().enabled:
            abort(404)
        wait = rate_limits.operator_blocked()
        if not wait and is_operator():
            return view(*args, **kwargs)
        if not wait and request.authorization is not None:
            wait = rate_limits.operator_failed()
        if wait:
            raise TooManyRequests("Too many failed operator logins from this address. "
                                  f"Try again in {durations.human(wait)}.", retry_after=wait)
        raise Unauthorized(
            "Operator credentials required.",
            www_authenticate=WWWAuthenticate("basic", {"realm": "ops", "charset": "UTF-8"}),
        )

    return wrapped
