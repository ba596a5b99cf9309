"""Sessions end on the server: a copy of the cookie taken before logout, "log out everywhere" or a
password reset gets the login page."""

import logging
import re

import pytest

from tests import portal_rows
from tests.portal_rows import EMAIL_A, PASSWORD


@pytest.fixture
def user(conn, portal_world):
    """Ann's portal login (account A), not logged in."""
    return portal_rows.make_user(conn)


def _login(client, password=PASSWORD):
    response = client.post("/login", data={"email": EMAIL_A, "password": password,
                                           "csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 302
    return response


def _copy_of_the_cookie(app, client):
    """Another browser holding the same session cookie, as a thief with a copy would."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _sent_to_login(client) -> bool:
    response = client.get("/orders")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_copied_cookie_works_until_logout_then_gets_the_login_page(app, client, user):
    _login(client)
    copy = _copy_of_the_cookie(app, client)
    assert copy.get("/orders").status_code == 200
    client.post("/logout", data={"csrf_token": portal_rows.csrf(client)})
    assert _sent_to_login(copy)
    assert copy.get("/api/v1/orders").status_code == 401


def test_log_out_everywhere_on_the_profile_ends_every_session(app, client, user):
    _login(client)
    laptop = app.test_client()
    _login(laptop)
    copy = _copy_of_the_cookie(app, client)
    page = client.get("/profile").get_data(as_text=True)
    assert "<title>Profile · Customer portal</title>" in page and page.count("Log out everywhere") == 1
    response = client.post("/profile/log-out-everywhere", data={"csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert _sent_to_login(client) and _sent_to_login(copy) and _sent_to_login(laptop)
    _login(client)
    assert client.get("/orders").status_code == 200


def test_a_password_reset_ends_the_sessions_from_before(app, client, user, caplog):
    _login(client)
    copy = _copy_of_the_cookie(app, client)
    stranger = app.test_client()
    with caplog.at_level(logging.INFO, logger="web.auth"):
        stranger.post("/forgot-password", data={"email": EMAIL_A, "csrf_token": portal_rows.csrf(stranger)})
    link = re.search(r"http://localhost:5000(/reset-password/\S+)", caplog.text)[1]
    stranger.post(link, data={"password": "a brand new password", "confirm": "a brand new password",
                              "csrf_token": portal_rows.csrf(stranger)})
    assert _sent_to_login(copy) and _sent_to_login(client)
    assert stranger.get("/orders").status_code == 200  # the reset logs its own browser in


def test_api_tokens_outlive_a_logout_until_revoked(app, client, user):
    _login(client)
    page = client.post("/profile/api-tokens", data={"name": "script", "csrf_token": portal_rows.csrf(client)})
    token = re.search(r'<code class="token">([^<]+)</code>', page.get_data(as_text=True))[1]
    client.post("/logout", data={"csrf_token": portal_rows.csrf(client)})
    assert app.test_client().get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"}).status_code == 200
