"""`/ops/model`: the model's card and server-drawn charts, runs started from the page, operators only."""

import dataclasses
import re
import socket

import pytest

from core import config, journey
from core.scoring import runs
from tests import scoring_rows
from tests.people import as_operator
from web import create_app

CHARTS = ("chart roc", "chart calibration", "chart bars", "chart histogram")


@pytest.fixture
def world(conn, env):
    """Synced accounts with orders and a current model."""
    scoring_rows.load(conn)
    scoring_rows.current_model(conn, env)


def token(client) -> str:
    """The CSRF token from the page's forms."""
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ops/model").get_data(as_text=True))[1]


def run_count(conn) -> int:
    return conn.execute("SELECT count(*) AS n FROM app.scoring_runs").fetchone()["n"]


def test_the_model_page_needs_operator_credentials(client):
    assert client.get("/ops/model").status_code == 401
    assert client.get("/ops/model/runs/1.json").status_code == 401


def test_the_page_shows_the_card_and_every_chart_as_svg_without_script(ops, world):
    response = ops.get("/ops/model")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<script" not in page
    assert re.search(r"Model v\d+ <small>\(current", page) and "Recency rule" in page and "Logistic regression" in page
    assert all(f'class="{c}' in page for c in CHARTS)
    roc = re.search(r'<svg[^>]*class="chart roc".*?</svg>', page, re.S)[0]
    assert roc.count("<polyline") == 3 and "model AUC" in roc  # the model and both baselines
    assert "No finished run yet" in page and "rows to write" in page


def test_a_run_started_from_the_page_answers_202_and_shows_on_it(ops, conn, world, run_jobs):
    response = ops.post("/ops/model/runs", data={"csrf_token": token(ops)})
    assert response.status_code == 202 and response.headers["Location"] == "/ops/model"
    again = ops.post("/ops/model/runs", data={"csrf_token": token(ops)})
    assert again.status_code == 409 and "is already running" in again.get_data(as_text=True)
    run_jobs()
    page = ops.get("/ops/model").get_data(as_text=True)
    histogram = re.search(r'<svg[^>]*class="chart histogram".*?</svg>', page, re.S)[0]
    assert histogram.count("<rect") == runs.HISTOGRAM_BINS
    assert len(re.findall(r"<td>\d+\.\d</td><td>(?:High|Medium|Low)</td>", page)) == 20  # the 20 highest risks
    assert ops.get("/ops/model/runs/1.json").get_json()["accounts_scored"] == 80


def test_without_redis_nothing_is_started_and_the_answer_is_503(app_config, conn, world):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = dataclasses.replace(app_config, redis_url=f"redis://127.0.0.1:{port}/0")
    ops = as_operator(create_app({"APP": cfg, "TESTING": True}).test_client())
    for path in ("/ops/model/runs", "/ops/model/train"):
        response = ops.post(path, data={"csrf_token": token(ops)})
        assert response.status_code == 503 and response.headers["Retry-After"] == "60"
        assert "nothing was recorded" in response.get_data(as_text=True)
    assert run_count(conn) == 0
    assert conn.execute("SELECT count(*) AS n FROM app.jobs").fetchone()["n"] == 0


def test_accounts_link_to_their_record_in_the_org(app_config):
    # Locally make run sets SALESFORCE_ORG_URL to the local org, which answers Lightning's record path too.
    heroku = dataclasses.replace(app_config, salesforce=config.Salesforce(org_url="https://acme.my.salesforce.com"))
    unset = dataclasses.replace(app_config, salesforce=config.Salesforce())
    assert journey.record_url(heroku, "Account", "001A") == "https://acme.my.salesforce.com/lightning/r/Account/001A/view"
    assert journey.record_url(unset, "Account", "001A") is None
