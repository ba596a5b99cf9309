"""Who is asking: a portal customer (session) or an operator (HTTP Basic). Shared by every blueprint.

Customer sessions live in Flask's signed cookie (nothing in process memory, so any dyno can serve
any request and a restart logs nobody out). The session holds only ids; every query re-scopes
by the account in SQL. Operators authenticate with OPS_USERNAME / OPS_PASSWORD from the environment;
when those are unset, ops pages are off (404), never open.
"""

import hmac
import os
from dataclasses import dataclass
from functools import wraps

from flask import abort, g, redirect, request, session, url_for
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from web import csrf


@dataclass(frozen=True)
class Customer:
    """A logged-in portal user: an app login tied to a synced Contact and its Account."""

    user_id: int
    contact_sfid: str | None
    account_sfid: str
    # The Contact's External_ID__c: how it is found while it exists only in Postgres (sfid NULL).
    contact_external_id: str | None = None


def customer_for(user: dict) -> Customer:
    """The identity of a user row from core.logins (for a session, or for a request with an API token)."""
    return Customer(
        user_id=user["id"],
        contact_sfid=user["contact_sfid"],
        account_sfid=user["account_sfid"],
        contact_external_id=user["contact_external_id"],
    )


def current_customer() -> Customer | None:
    """The customer of this request's session, if any."""
    if "customer" not in g:
        data = session.get("customer")
        g.customer = Customer(**data) if isinstance(data, dict) else None
    return g.customer


def log_in(customer: Customer) -> None:
    """Start a session for `customer` (a fresh session id defeats fixation)."""
    session.clear()
    session["customer"] = {"user_id": customer.user_id, "contact_sfid": customer.contact_sfid,
                           "account_sfid": customer.account_sfid,
                           "contact_external_id": customer.contact_external_id}
    session.permanent = True
    # A new CSRF token with the new session, in the cookie set by the login response: pages then
    # read the session without changing it, so they send no new cookie.
    csrf.token()


def log_out() -> None:
    """End the session."""
    session.clear()


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


def _ops_credentials():
    user, password = os.environ.get("OPS_USERNAME", ""), os.environ.get("OPS_PASSWORD", "")
    return (user, password) if user and password else None


def is_operator() -> bool:
    """True when the request carries the operators' credentials."""
    expected = _ops_credentials()
    auth = request.authorization
    if not expected or auth is None or auth.type != "basic":
        return False
    return hmac.compare_digest((auth.username or "").encode(), expected[0].encode()) & hmac.compare_digest(
        (auth.password or "").encode(), expected[1].encode()
    )


def ops_required(view):
    """Operators only: HTTP Basic against OPS_USERNAME / OPS_PASSWORD; off (404) when they are unset."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if _ops_credentials() is None:
            abort(404)
        if not is_operator():
            raise Unauthorized(
                "Operator credentials required.",
                www_authenticate=WWWAuthenticate("basic", {"realm": "ops", "charset": "UTF-8"}),
            )
        return view(*args, **kwargs)

    return wrapped
