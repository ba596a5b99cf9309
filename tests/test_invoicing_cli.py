"""`python manage.py invoices ...`: clear errors with exit code 2 for bad input, and nothing touched."""

import pytest
from click.testing import CliRunner

import manage
from commands import progress
from core import queue
from tests.invoicing_rows import add_accounts, add_orders, synced_products


@pytest.fixture
def runner():
    """A click runner (stdout is not a terminal, so no progress bar)."""
    return CliRunner()


@pytest.fixture
def orders(conn):
    """Three accounts with October 2026 orders."""
    accounts = add_accounts(conn, 3)
    add_orders(conn, [(a, "2026-10-10", 100 + i, "Delivered") for i, a in enumerate(accounts)])
    return accounts


def runs(conn):
    """How many runs exist."""
    return conn.execute("SELECT count(*) AS n FROM app.invoice_runs").fetchone()["n"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--period", "2026-13"], "YYYY-MM"),
        (["--period", "10/2026"], "YYYY-MM"),
        (["--period", "2999-01"], "in the future"),
        (["--period", "2026-10", "--dry"], "No such option '--dry'"),
        ([], "Missing option '--period'"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_starts_nothing(runner, conn, redis, env, orders, args, message):
    result = runner.invoke(manage.cli, ["invoices", "run", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert runs(conn) == 0 and queue.queue(redis).count == 0


def test_run_prints_the_api_bill_and_starts(runner, conn, redis, env, orders):
    result = runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "3 unbilled orders" in result.output and "none: SOAP writes" in result.output
    assert "run #1 started" in result.output and "/ops/invoicing/runs/1" in result.output
    chunks = conn.execute("SELECT chunks_total FROM app.invoice_runs").fetchone()["chunks_total"]
    assert runs(conn) == 1 and queue.queue(redis).count == chunks == 3


def test_run_refused_over_the_demo_plans_row_cap_unless_forced(runner, conn, redis, env, orders):
    synced_products(conn, 10_000)
    refused = runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10"])
    assert refused.exit_code == 1 and "cap of 10,000" in refused.output and "--force" in refused.output
    assert runs(conn) == 0
    forced = runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10", "--force"])
    assert forced.exit_code == 0 and runs(conn) == 1


def test_second_run_while_one_is_running_is_refused(runner, conn, redis, env, orders):
    runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10"])
    second = runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10"])
    assert second.exit_code == 1 and "Run #1 for 2026-10 is already running" in second.output
    assert runs(conn) == 1


def test_wait_prints_the_summary_once_workers_finish(runner, conn, env, orders, run_jobs, monkeypatch):
    # Where the command would sleep waiting for the worker dynos, the jobs run.
    monkeypatch.setattr(progress.time, "sleep", lambda _seconds: run_jobs())
    result = runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10", "--wait"])
    assert result.exit_code == 0, result.output
    assert "run #1 for 2026-10: finished" in result.output
    assert "orders invoiced   3" in result.output and "invoices created  3" in result.output


def test_estimate_starts_nothing(runner, conn, redis, env, orders):
    result = runner.invoke(manage.cli, ["invoices", "estimate", "--period", "2026-10"])
    assert result.exit_code == 0 and "3 invoices to write" in result.output
    assert runs(conn) == 0


def test_resume_enqueues_only_chunks_without_a_job(runner, conn, redis, env, orders):
    runner.invoke(manage.cli, ["invoices", "run", "--period", "2026-10"])
    result = runner.invoke(manage.cli, ["invoices", "resume", "1"])
    assert result.exit_code == 0 and "0 enqueued again" in result.output
    redis.flushdb()  # Redis lost its jobs
    result = runner.invoke(manage.cli, ["invoices", "resume", "1"])
    assert "3 enqueued again" in result.output and queue.queue(redis).count == 3


def test_status_of_unknown_run_is_a_usage_error(runner, conn, env):
    result = runner.invoke(manage.cli, ["invoices", "status", "999"])
    assert result.exit_code == 2 and "there is no run #999" in result.output


def test_schedule_enqueues_a_run_for_later(runner, redis, env):
    result = runner.invoke(manage.cli, ["invoices", "schedule", "--at", "2030-01-01T02:00"])
    assert result.exit_code == 0 and "scheduled at 2030-01-01 02:00 UTC" in result.output
    assert queue.queue(redis).scheduled_job_registry.count == 1

