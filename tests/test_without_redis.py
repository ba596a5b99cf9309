"""Redis down: every enqueue answers 503 with a clear message and records nothing; /healthz names Redis."""

import dataclasses
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from psycopg import sql

from standins import services
from tests import connect_rows
from tests.invoicing_rows import add_accounts, add_orders
from tests.people import as_operator, log_in
from tests.portal_rows import csrf
from web import create_app

MESSAGE = "not started and nothing was recorded"


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: a Redis that is stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_redis(app_config, conn, closed_port):
    """The web app with REDIS_URL pointing at the stopped Redis (Postgres up)."""
    cfg = dataclasses.replace(app_config, redis_url=f"redis://127.0.0.1:{closed_port}/0")
    return create_app({"APP": cfg, "TESTING": True})


def _count(conn, table: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) AS n FROM app.{}").format(sql.Identifier(table))).fetchone()["n"]


def _form_token(client, path) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def test_healthz_names_redis_as_the_dependency_that_is_down(no_redis):
    response = no_redis.test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["redis"] == {"ok": False} and body["checks"]["postgres"]["ok"] is True


def test_a_customer_export_is_a_503_page_and_no_job(no_redis, conn):
    connect_rows.load(conn, accounts=1, orders=3)
    client = no_redis.test_client()
    log_in(client, account_sfid=connect_rows.account_sfid(1))
    response = client.post("/orders/exports", data={"csrf_token": csrf(client)})
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert response.mimetype == "text/html" and MESSAGE in response.get_data(as_text=True)
    assert _count(conn, "jobs") == 0


def test_an_operator_export_is_a_503_problem_for_json_clients_and_no_job(no_redis, conn):
    ops = as_operator(no_redis.test_client())
    response = ops.post("/ops/exports/orders", data={"csrf_token": _form_token(ops, "/ops/exports")},
                        headers={"Accept": "application/json"})
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert MESSAGE in response.get_json()["detail"] and _count(conn, "jobs") == 0


def test_an_invoicing_run_is_a_503_and_records_no_run(no_redis, conn):
    add_orders(conn, [(a, "2026-10-10", 100, "Shipped") for a in add_accounts(conn, 2)])
    ops = as_operator(no_redis.test_client())
    token = _form_token(ops, "/ops/invoicing")
    page = ops.post("/ops/invoicing", data={"csrf_token": token, "period": "2026-10"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "60"
    assert MESSAGE in page.get_data(as_text=True)
    problem = ops.post("/ops/invoicing", data={"csrf_token": token, "period": "2026-10"},
                       headers={"Accept": "application/json"})
    assert problem.status_code == 503 and problem.mimetype == "application/problem+json"
    assert MESSAGE in problem.get_json()["detail"]
    assert _count(conn, "invoice_runs") == 0 and _count(conn, "invoice_run_chunks") == 0



def test_a_real_redis_stopped_then_started_again_needs_no_app_restart(app_config, conn):
    connect_rows.load(conn, accounts=1, orders=3)
    server = services.EmbeddedRedis(Path("/tmp") / f"connectapp-stop-redis-{os.getpid()}").start()
    try:
        app = create_app({"APP": dataclasses.replace(app_config, redis_url=server.url), "TESTING": True})
        client = app.test_client()
        log_in(client, account_sfid=connect_rows.account_sfid(1))
        assert client.get("/healthz").status_code == 200
        server.stop()
        assert client.get("/healthz").get_json()["checks"]["redis"] == {"ok": False}
        refused = client.post("/orders/exports", data={"csrf_token": csrf(client)})
        assert refused.status_code == 503 and _count(conn, "jobs") == 0
        server.start()
        assert client.get("/healthz").status_code == 200
        again = client.post("/orders/exports", data={"csrf_token": csrf(client)})
        assert again.status_code == 202, (again.headers, client.get_cookie("session"))
        assert _count(conn, "jobs") == 1
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
