"""Throttles that hold and degrade well: the client address as Heroku's router gives it (no spoofing with a
header of one's own), operators' HTTP Basic throttled like the login, and logging in while Redis is down."""

import base64
import dataclasses
import logging
import socket

import pytest

from core import config
from tests import portal_rows
from tests.people import OPS_PASSWORD, OPS_USER
from tests.portal_rows import EMAIL_A, PASSWORD
from web import create_app

ROUTER_SAW = "127.0.0.9"  # what Heroku's router appends: the address it accepted the connection from


@pytest.fixture
def user(conn, portal_world):
    return portal_rows.make_user(conn)


def _app(app_config, **changes):
    return create_app({"APP": dataclasses.replace(app_config, **changes), "TESTING": True})


def _login(client, email=EMAIL_A, password=PASSWORD, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/login", headers=headers,
                       data={"email": email, "password": password, "csrf_token": portal_rows.csrf(client)})


def _basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_on_heroku_the_router_appended_address_is_the_client(app_config, redis, user):
    """A client writing its own X-Forwarded-For gets a new left part each time, never a new allowance."""
    client = _app(app_config, environment="production", app_url="https://example.herokuapp.com",
                  proxy_hops=1).test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    statuses = [_login(client, email=f"user{n}@example.com", forwarded=f"127.0.0.{100 + n}, {ROUTER_SAW}").status_code
                for n in range(31)]
    assert statuses[-2] == 401 and statuses[-1] == 429
    # Another address, as the router saw it, still has its own allowance.
    assert _login(client, email="other@example.com", forwarded=f"{ROUTER_SAW}, 127.0.0.10").status_code == 401


def test_without_a_proxy_in_front_the_header_is_ignored(app_config, redis, user):
    client = _app(app_config, proxy_hops=0).test_client()
    statuses = [_login(client, email=f"user{n}@example.com", forwarded=f"127.0.0.{100 + n}").status_code
                for n in range(31)]
    assert statuses[-1] == 429


def test_proxy_hops_default_to_the_router_in_production_only():
    base = {"DATABASE_URL": "postgres://localhost/x", "REDIS_URL": "redis://localhost"}
    assert config.load({**base, "APP_ENV": "production"}).forwarded_hops() == 1
    assert config.load({**base, "APP_ENV": "development"}).forwarded_hops() == 0
    assert config.load({**base, "APP_ENV": "production", "PROXY_HOPS": "2"}).forwarded_hops() == 2
    with pytest.raises(config.ConfigError, match="PROXY_HOPS"):
        config.load({**base, "PROXY_HOPS": "many"})


def test_failed_operator_logins_are_throttled_per_address(app, redis):
    client = app.test_client()
    statuses = [client.get("/ops/sync", headers=_basic(OPS_USER, f"guess {n}")).status_code for n in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    # Past the limit the right password is refused too, so guessing from this address stops.
    refused = client.get("/ops/sync", headers=_basic(OPS_USER, OPS_PASSWORD))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed operator logins" in refused.get_data(as_text=True)


def test_an_operator_browsing_is_never_throttled(app, redis):
    client = app.test_client()
    assert {client.get("/ops/sync", headers=_basic(OPS_USER, OPS_PASSWORD)).status_code for _ in range(25)} == {200}
    # A browser's first request carries no credentials: the challenge, not a count.
    assert {client.get("/ops/sync").status_code for _ in range(25)} == {401}


def test_throttled_operator_address_does_not_lock_out_another(app_config, redis):
    app = _app(app_config, environment="production", app_url="https://example.herokuapp.com", proxy_hops=1)
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    for n in range(21):
        client.get("/ops/sync", headers={**_basic(OPS_USER, f"guess {n}"), "X-Forwarded-For": ROUTER_SAW})
    elsewhere = client.get("/ops/sync", headers={**_basic(OPS_USER, OPS_PASSWORD), "X-Forwarded-For": "127.0.0.10"})
    assert elsewhere.status_code == 200


@pytest.fixture
def no_redis(app_config, conn):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return _app(app_config, redis_url=f"redis://127.0.0.1:{port}/0")


def test_logging_in_works_while_redis_is_down(no_redis, user, caplog):
    client = no_redis.test_client()
    with caplog.at_level(logging.WARNING, logger="core.rate_limits"):
        response = _login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/orders"
    assert client.get("/orders").status_code == 200
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)


def test_logins_stay_limited_while_redis_is_down(no_redis, user, conn):
    statuses = [_login(no_redis.test_client(), password=f"wrong {n}").status_code for n in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert conn.execute("SELECT count(*) AS n FROM app.rate_limit_hits").fetchone()["n"] >= 2


def test_operator_pages_work_and_stay_throttled_while_redis_is_down(no_redis, conn):
    client = no_redis.test_client()
    assert client.get("/ops/sync", headers=_basic(OPS_USER, OPS_PASSWORD)).status_code == 200
    statuses = [client.get("/ops/sync", headers=_basic(OPS_USER, f"guess {n}")).status_code for n in range(21)]
    assert statuses[-1] == 429
