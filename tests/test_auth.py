"""Logging in and out, invitations, password resets: no user enumeration, rate limits, CSRF."""

import logging
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from core import logins
from tests import portal_rows
from tests.portal_rows import EMAIL_A, PASSWORD


@pytest.fixture
def user(conn, portal_world):
    """Ann's portal login (account A), not logged in."""
    return portal_rows.make_user(conn)


def _login(client, email=EMAIL_A, password=PASSWORD, **extra):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": portal_rows.csrf(client),
                                       **extra})


def test_login_opens_the_orders_page(client, user):
    response = _login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/orders"
    assert "Your orders" in client.get("/orders").get_data(as_text=True)


def test_login_returns_to_the_page_asked_for(client, user):
    assert _login(client, next="/invoices").headers["Location"] == "/invoices"


def test_login_never_redirects_to_another_site(client, user):
    assert _login(client, next="//evil.example/x").headers["Location"] == "/orders"


def test_anonymous_visitor_is_sent_to_the_login_page(client, conn):
    response = client.get("/orders")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/orders")


def test_wrong_password_and_unknown_email_get_the_same_answer(client, user):
    wrong = _login(client, password="not the password")
    unknown = _login(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    text = "That email and password do not match a portal login."
    assert text in wrong.get_data(as_text=True) and text in unknown.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, user):
    response = client.post("/login", data={"email": EMAIL_A, "password": PASSWORD})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)


def test_login_with_a_wrong_csrf_token_is_refused(client, user):
    portal_rows.csrf(client)
    response = client.post("/login", data={"email": EMAIL_A, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400


def test_logout_ends_the_session(client, user):
    _login(client)
    response = client.post("/logout", data={"csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 302
    assert client.get("/orders").status_code == 302


def test_logout_needs_the_csrf_token(client, user):
    _login(client)
    assert client.post("/logout").status_code == 400
    assert client.get("/orders").status_code == 200


def test_logins_per_email_are_rate_limited(client, user):
    statuses = [_login(client, password=f"wrong {n}").status_code for n in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    blocked = _login(client)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0


def test_rate_limit_applies_to_unknown_emails_too(client, conn):
    statuses = [_login(client, email="nobody@example.com").status_code for _ in range(11)]
    assert statuses[-1] == 429


def test_rate_limit_is_shared_through_redis(app, user, redis):
    for n in range(10):
        _login(app.test_client(), password=f"wrong {n}")  # a new client each time, as if from other dynos
    assert any(key.startswith(b"ratelimit:login:email:") for key in redis.keys())
    assert _login(app.test_client()).status_code == 429


def test_logins_per_client_address_are_rate_limited(client, user):
    statuses = [_login(client, email=f"user{n}@example.com").status_code for n in range(31)]
    assert statuses[-1] == 429 and statuses[-2] == 401


def test_accepting_an_invitation_sets_the_password_and_logs_in(client, conn, portal_world):
    _, token = logins.invite(conn, "salesforce", "app", EMAIL_A)
    page = client.get(f"/invitation/{token}").get_data(as_text=True)
    assert EMAIL_A in page
    response = client.post(f"/invitation/{token}", data={"password": "my new password", "confirm": "my new password",
                                                         "csrf_token": portal_rows.csrf(client)})
    assert response.headers["Location"] == "/orders"
    assert client.get("/orders").status_code == 200
    assert logins.authenticate(conn, "salesforce", "app", EMAIL_A, "my new password")


def test_invitation_refuses_a_short_password(client, conn, portal_world):
    _, token = logins.invite(conn, "salesforce", "app", EMAIL_A)
    response = client.post(f"/invitation/{token}", data={"password": "short", "confirm": "short",
                                                         "csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 400 and "at least 10 characters" in response.get_data(as_text=True)


def test_unknown_invitation_link_says_it_no_longer_works(client, conn):
    response = client.get("/invitation/not-a-token")
    assert response.status_code == 404 and "no longer works" in response.get_data(as_text=True)


def _forgot(client, email):
    return client.post("/forgot-password", data={"email": email, "csrf_token": portal_rows.csrf(client)})


def test_forgot_password_answers_the_same_for_unknown_emails(client, user):
    known, unknown = _forgot(client, EMAIL_A), _forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    messages = [client.get(known.headers["Location"]).get_data(as_text=True) for _ in range(1)]
    assert "If that email has a portal login" in messages[0]


def test_password_reset_flow(client, user, conn, caplog):
    with caplog.at_level(logging.INFO, logger="web.auth"):
        _forgot(client, EMAIL_A)
    link = re.search(r"http://localhost:5000(/reset-password/\S+)", caplog.text)[1]
    response = client.post(link, data={"password": "a brand new password", "confirm": "a brand new password",
                                       "csrf_token": portal_rows.csrf(client)})
    assert response.headers["Location"] == "/orders"
    client.post("/logout", data={"csrf_token": portal_rows.csrf(client)})
    assert _login(client, password=PASSWORD).status_code == 401
    assert _login(client, password="a brand new password").status_code == 302
    assert client.get(link).status_code == 404  # spent


def test_password_reset_requests_are_rate_limited(client, user):
    statuses = [_forgot(client, EMAIL_A).status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]


def test_session_cookie_is_httponly_and_lax(client, user):
    cookie = _login(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_lasts_the_configured_lifetime(client, user):
    cookie = _login(client).headers["Set-Cookie"]
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie)[1])
    lifetime = expires - datetime.now(UTC)
    assert timedelta(hours=11, minutes=55) < lifetime <= timedelta(hours=12)  # SESSION_LIFETIME_HOURS, 12 by default


def test_pages_read_the_session_without_sending_a_new_cookie(client, user):
    # The login's cookie already holds the CSRF token, so a form on the next page works with it as is.
    _login(client)
    response = client.get("/orders")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))[1]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
