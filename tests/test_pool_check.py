"""Connections that come back: after Postgres ends the pool's connections (as a restart or a failover
does), the next request succeeds."""

import dataclasses

import pytest

from tests import portal_rows
from web import create_app

NAME = "pool-check-test"
# What a restart or failover does to every open connection: "terminating connection due to
# administrator command". Only this test app's connections (named by application_name); each call
# returns once its backend has exited (the timeout argument), as after a real restart.
TERMINATE = """
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) AS ended
FROM pg_stat_activity WHERE application_name = %s
"""


@pytest.fixture
def client(app_config, conn, redis):
    """A web app whose pooled connections carry an application_name of their own."""
    sep = "&" if "?" in app_config.database_url else "?"
    cfg = dataclasses.replace(app_config, database_url=f"{app_config.database_url}{sep}application_name={NAME}")
    return create_app({"APP": cfg, "TESTING": True}).test_client()


def test_the_first_requests_after_postgres_ends_every_pooled_connection_succeed(client, conn, portal_world):
    portal_rows.session_for(client, portal_rows.make_user(conn))
    assert client.get("/orders").status_code == 200 and client.get("/healthz").status_code == 200
    assert conn.execute(TERMINATE, (NAME,)).fetchone()["ended"] >= 1
    assert client.get("/orders").status_code == 200
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["checks"]["postgres"]["ok"]
