"""`/ops/invoicing`: operators start a run (202 + Location) and watch its progress."""

import dataclasses
import re

import pytest

from core import queue
from tests.invoicing_rows import add_accounts, add_orders, synced_products
from tests.people import as_operator
from web import create_app


def ops_on_plan(app_config, plan: str):
    """An operator's client for an app configured with CONNECT_PLAN=`plan`."""
    cfg = dataclasses.replace(app_config, connect_plan=plan)
    return as_operator(create_app({"APP": cfg, "TESTING": True}).test_client())


@pytest.fixture
def orders(conn):
    """Three accounts with October 2026 orders."""
    accounts = add_accounts(conn, 3)
    add_orders(conn, [(a, "2026-10-10", 100 + i, "Shipped") for i, a in enumerate(accounts)])
    return accounts


def token(client) -> str:
    """The CSRF token from the start form."""
    page = client.get("/ops/invoicing").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def runs(conn):
    """How many runs exist."""
    return conn.execute("SELECT count(*) AS n FROM app.invoice_runs").fetchone()["n"]


def test_ops_page_needs_operator_credentials(client):
    assert client.get("/ops/invoicing").status_code == 401


def test_start_answers_202_with_the_status_page(ops, conn, env, orders):
    response = ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"})
    assert response.status_code == 202
    assert response.headers["Location"] == "/ops/invoicing/runs/1"
    assert "Invoice run #1 for 2026-10" in response.get_data(as_text=True)


def test_status_json_shows_progress_then_results(ops, conn, env, orders, run_jobs):
    ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"})
    before = ops.get("/ops/invoicing/runs/1.json").get_json()
    run_jobs()
    after = ops.get("/ops/invoicing/runs/1.json").get_json()
    assert before["state"] == "running" and before["chunks_done"] == 0 and before["orders_estimate"] == 3
    assert after["state"] == "finished" and after["final"] and after["chunks_done"] == after["chunks_total"]
    assert after["orders_invoiced"] == 3 and after["invoices_created"] == 3 and after["amount_total"] == "303.00"
    page = ops.get("/ops/invoicing/runs/1").get_data(as_text=True)
    assert "finished" in page and "_hc_lastop = PENDING" in page


def test_json_client_gets_202_json(ops, conn, env, orders):
    response = ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"},
                        headers={"Accept": "application/json"})
    assert response.status_code == 202 and response.get_json()["id"] == 1


def test_estimate_shows_rows_against_the_plans_cap_and_the_drain(ops, conn, env, orders):
    page = ops.get("/ops/invoicing?period=2026-10").get_data(as_text=True)
    assert "of the demo plan's 10,000 across all mappings" in page
    assert "none: SOAP writes (Ordered Writes is off), which do not count toward the org's API request limit" in page
    assert "3 writes (0 waiting already)" in page and "1 SOAP calls of 200" in page
    assert runs(conn) == 0


@pytest.mark.parametrize(
    "form, message",
    [
        ({"period": "2026-13"}, "YYYY-MM"),
        ({"period": "2999-01"}, "in the future"),
        ({"period": "2026-10", "dry_run": "on"}, "Unknown field(s): dry_run"),
    ],
)
def test_bad_input_is_400_with_the_form_error_and_starts_nothing(ops, conn, redis, env, orders, form, message):
    response = ops.post("/ops/invoicing", data={"csrf_token": token(ops), **form})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert runs(conn) == 0 and queue.queue(redis).count == 0


def test_start_without_the_csrf_token_starts_no_run(ops, conn, redis, env, orders):
    token(ops)
    response = ops.post("/ops/invoicing", data={"period": "2026-10"})
    assert response.status_code == 400 and "submit it again" in response.get_data(as_text=True)
    assert runs(conn) == 0 and queue.queue(redis).count == 0


def test_second_start_links_the_running_run(ops, conn, env, orders):
    ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"})
    again = ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"})
    assert again.status_code == 409
    assert "already running" in again.get_data(as_text=True) and "/ops/invoicing/runs/1" in again.get_data(as_text=True)


def test_json_client_gets_a_refused_start_as_problem_details_naming_the_run(ops, conn, env, orders):
    ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"})
    again = ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"},
                     headers={"Accept": "application/json"})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    body = again.get_json()
    assert body["type"] == "about:blank" and body["title"] == "Invoice run not started" and body["status"] == 409
    assert "already running" in body["detail"] and body["run_id"] == 1


def test_over_the_row_cap_is_409_until_forced(ops, conn, redis, env, orders):
    synced_products(conn, 10_000)
    refused = ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "TOO_MANY_ROWS" in body and "force" in body and runs(conn) == 0
    forced = ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10", "force": "on"})
    assert forced.status_code == 202


def test_unknown_run_is_404(ops, conn):
    assert ops.get("/ops/invoicing/runs/42").status_code == 404
    assert ops.get("/ops/invoicing/runs/42.json").status_code == 404


def test_the_enterprise_plan_has_no_cap_the_app_knows(app_config, conn, redis, env, orders):
    synced_products(conn, 10_000)
    ops = ops_on_plan(app_config, "enterprise")
    page = ops.get("/ops/invoicing?period=2026-10").get_data(as_text=True)
    assert "enterprise plan: the cap is in your contract" in page
    assert ops.post("/ops/invoicing", data={"csrf_token": token(ops), "period": "2026-10"}).status_code == 202
