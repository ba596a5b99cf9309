"""Logging in and out, accepting an invitation, and resetting a forgotten password.

No page says whether an email has a login: a wrong password and an unknown email get the same
answer, and "forgot password" always says a link is on its way. Login and reset requests are
rate-limited per client address and per email (web/rate_limits.py: Redis, or Postgres while it is down).
"""

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from core import logins, passwords
from web import csrf, database, inputs, rate_limits
from web.identity import current_customer, customer_for, log_in, log_out

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
BAD_LOGIN = "That email and password do not match a portal login."
SENT = "If that email has a portal login, a link to choose a new password is on its way. It is valid for one hour."


def _start_session(user: dict) -> None:
    """Log the user in, with a fresh session and its CSRF token."""
    log_in(customer_for(user))
    # The token goes in the cookie the login response sets: pages then read the session without
    # changing it, so they send no new cookie.
    csrf.token()


def _safe_next(target: str | None) -> str:
    """Only a path on this site (web/inputs.py): never an open redirect, never a header break."""
    return inputs.same_site_path(target) or url_for("portal.orders")


def _too_many(wait: int, template: str, **context):
    """The form again with a 429 and Retry-After."""
    response = render_template(template, error=f"Too many attempts. Try again in {wait // 60 + 1} minutes.", **context)
    return response, 429, {"Retry-After": str(wait)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success, a fresh session and the page the user asked for."""
    if request.method == "GET":
        if current_customer():
            return redirect(_safe_next(request.args.get("next")))
        return render_template("auth/login.html", email="", next=request.args.get("next", ""))
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    target = request.form.get("next", "")
    wait = rate_limits.check("login", email)
    if wait:
        return _too_many(wait, "auth/login.html", email=email, next=target)
    cfg = current_app.config["APP"]
    with database.connection() as conn:
        user = logins.authenticate(conn, cfg.connect_schema, cfg.app_schema, email, password)
    if user is None:
        return render_template("auth/login.html", error=BAD_LOGIN, email=email, next=target), 401
    _start_session(user)
    log.info("portal login user_id=%s", user["id"])
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout():
    """End the session."""
    log_out()
    flash("You are logged out.", "success")
    return redirect(url_for("auth.login"))


def _password_form(token: str, purpose: str, template: str, done: str):
    """Shared by invitation and reset: show the form, or set the password and log in."""
    cfg = current_app.config["APP"]
    with database.connection() as conn:
        user = logins.token_user(conn, cfg.app_schema, token, purpose)
        if user is None:
            return render_template("auth/link_expired.html", purpose=purpose), 404
        if request.method == "GET":
            return render_template(template, email=user["email"])
        password = request.form.get("password", "")
        problem = passwords.problem(password)
        if problem is None and password != request.form.get("confirm", ""):
            problem = "The two passwords are not the same."
        if problem:
            return render_template(template, email=user["email"], error=problem), 400
        user_id = logins.set_password_with_token(conn, cfg.app_schema, token, purpose, password)
        found = logins.user_by(conn, cfg.connect_schema, cfg.app_schema, user_id=user_id) if user_id else None
    if found is None:
        return render_template("auth/link_expired.html", purpose=purpose), 404
    _start_session(found)
    flash(done, "success")
    return redirect(url_for("portal.orders"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token):
    """Choose a password from an invitation link; logs the new user in."""
    return _password_form(token, "invitation", "auth/invitation.html", "Welcome! Your portal login is ready.")


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link; the answer is the same whether or not the email has a login."""
    if request.method == "GET":
        return render_template("auth/forgot.html")
    email = request.form.get("email", "").strip()
    wait = rate_limits.check("reset", email)
    if wait:
        return _too_many(wait, "auth/forgot.html")
    cfg = current_app.config["APP"]
    with database.connection() as conn:
        token = logins.start_reset(conn, cfg.connect_schema, cfg.app_schema, email)
    if token:
        deliver_reset_link(email, cfg.public_url() + url_for("auth.reset_password", token=token))
    flash(SENT, "success")
    return redirect(url_for("auth.login"))


def deliver_reset_link(email: str, link: str) -> None:
    """Send the reset link. There is no mail add-on in this demo: outside production the link is logged."""
    if current_app.config["APP"].environment == "production":
        # A reset link is a password: never in production logs. Wire a mail add-on here.
        log.warning("password reset requested, but no mail add-on is configured to deliver it")
        return
    log.info("password reset link for %s: %s", email, link)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token):
    """Choose a new password from a reset link; logs the user in."""
    return _password_form(token, "reset", "auth/reset.html", "Your password is changed.")
