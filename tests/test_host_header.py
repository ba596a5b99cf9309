"""The Host header is not trusted: absolute links start with APP_URL (required in production), never the Host."""

import dataclasses
import json
import logging
import re

import pytest
from click.testing import CliRunner

import manage
from core import config
from core.paths import ROOT
from tests import portal_rows
from tests.portal_rows import EMAIL_A
from web import create_app

APP_URL = "https://portal.example.com"
EVIL = {"Host": "evil.example"}


@pytest.fixture
def client(app_config, conn, redis, portal_world):
    """The web app with APP_URL set, and Ann's login."""
    portal_rows.make_user(conn)
    return create_app({"APP": dataclasses.replace(app_config, app_url=APP_URL), "TESTING": True}).test_client()


def _reset_link(client, caplog, headers) -> str:
    """Ask for a reset link in a request whose Host is the attacker's (the session cookie sent to it too)."""
    token = portal_rows.csrf(client)
    client.set_cookie("session", client.get_cookie("session").value, domain=headers["Host"])
    with caplog.at_level(logging.INFO, logger="web.auth"):
        response = client.post("/forgot-password", headers=headers, data={"email": EMAIL_A, "csrf_token": token})
    assert response.status_code == 302
    return re.search(r"password reset link for \S+: (\S+)", caplog.text)[1]


def test_a_reset_link_starts_with_app_url_whatever_the_host_header(client, caplog):
    link = _reset_link(client, caplog, {**EVIL, "X-Forwarded-Host": "evil.example"})
    assert link.startswith(APP_URL + "/reset-password/") and "evil" not in link


def test_without_app_url_a_local_reset_link_points_at_the_local_app(app, conn, portal_world, caplog):
    portal_rows.make_user(conn)
    link = _reset_link(app.test_client(), caplog, EVIL)
    assert link.startswith("http://localhost:5000/reset-password/")


def test_the_openapi_server_is_app_url_whatever_the_host_header(client):
    document = client.get("/api/v1/openapi.json", headers=EVIL).get_json()
    assert document["servers"] == [{"url": APP_URL}]


def test_without_app_url_the_openapi_server_is_relative(app):
    document = app.test_client().get("/api/v1/openapi.json", headers=EVIL).get_json()
    assert document["servers"] == [{"url": "/"}]


def test_an_invitation_link_starts_with_app_url(conn, env, monkeypatch, portal_world):
    monkeypatch.setenv("APP_URL", APP_URL)
    result = CliRunner().invoke(manage.cli, ["invite", EMAIL_A])
    assert result.exit_code == 0 and f"  {APP_URL}/invitation/" in result.output


def test_redirects_are_relative_so_the_host_header_cannot_steer_them(client):
    response = client.get("/orders", headers=EVIL)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_production_refuses_to_start_without_app_url(app_config):
    production = dataclasses.replace(app_config, environment="production", app_url=None)
    with pytest.raises(config.ConfigError, match="^APP_URL is not set"):
        create_app({"APP": production})


def test_app_json_asks_for_app_url():
    assert json.loads((ROOT / "app.json").read_text())["env"]["APP_URL"]["required"] is True
