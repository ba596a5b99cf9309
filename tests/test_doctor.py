"""`python manage.py doctor`: every part of a deploy checked, a clear failing line with its fix, exit 1 on a failure."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from rq.worker import Worker

import manage
from core import config, doctor, queue
from standins import services
from tests import processes
from tests.test_redis_urls import tcp_redis, tls_redis  # noqa: F401  (fixtures: a Redis behind TLS)


@pytest.fixture
def runner():
    """A click runner for `python manage.py doctor`."""
    return CliRunner()


def line(output: str, name: str) -> str:
    """The line doctor printed for the check `name`."""
    found = [li for li in output.splitlines() if li[6:].startswith(name)]
    assert found, f"no line for {name} in:\n{output}"
    return found[0]


def test_doctor_fails_with_a_clear_line_when_no_worker_runs(runner, env, conn, redis):
    result = runner.invoke(manage.cli, ["doctor"])
    assert result.exit_code == 1
    workers = line(result.output, "Workers")
    assert workers.startswith("FAIL") and "no worker registered" in workers
    assert "heroku ps:scale worker=1" in result.output
    assert "1 check(s) failed: Workers" in result.output


def test_the_other_checks_pass_on_a_complete_local_stack(runner, env, conn, redis):
    output = runner.invoke(manage.cli, ["doctor"]).output
    for name in ("Postgres", "Connect schema", "Mapped tables", "Migrations", "Redis", "Queues", "Config vars"):
        assert line(output, name).startswith("ok"), output
    assert "without TLS: fine locally" in line(output, "Postgres")
    assert "not checked" in line(output, "Salesforce org")


@pytest.mark.slow
def test_doctor_passes_when_a_worker_runs(runner, env, app_config, conn, redis, tmp_path):
    worker = processes.start_worker(processes.environment(app_config), tmp_path / "worker.log")
    try:
        processes.wait_for(lambda: Worker.all(connection=redis), 30, "the worker to register")
        result = runner.invoke(manage.cli, ["doctor"])
    finally:
        processes.stop(worker)
    assert result.exit_code == 0, result.output
    assert line(result.output, "Workers").startswith("ok  ")
    assert "all 9 checks passed" in result.output


def test_doctor_lists_the_scheduler_jobs_as_a_checklist(runner, env, conn, redis):
    output = runner.invoke(manage.cli, ["doctor"]).output
    assert "Scheduler has no API" in output
    for command in ("python manage.py exports cleanup", "python manage.py invoices run --period previous",
                    "python manage.py sync-health sample"):
        assert f"[ ] {command}" in output


def test_a_job_waiting_too_long_means_the_queue_is_not_draining(redis):
    queue.queue(redis).enqueue("worker.jobs.does_not_matter")
    assert doctor.queues_draining(redis).ok
    later = datetime.now(UTC) + timedelta(seconds=doctor.MAX_QUEUE_AGE_S + 60)
    finding = doctor.queues_draining(redis, now=later)
    assert not finding.ok and "default: 1 waiting" in finding.detail and "heroku ps:scale worker" in finding.fix


def test_a_mapped_column_the_table_lacks_is_named(conn):
    with conn.transaction(force_rollback=True):
        conn.execute("ALTER TABLE salesforce.contact DROP COLUMN email")
        finding = doctor.mapped_tables(conn, "salesforce")
    assert not finding.ok and "Contact: salesforce.contact lacks email" in finding.detail
    assert "heroku connect:import sql/connect/mapping.json" in finding.fix


def test_a_missing_system_table_is_named(conn):
    with conn.transaction(force_rollback=True):
        conn.execute("DROP TABLE salesforce._trigger_log_archive")
        finding = doctor.connect_schema(conn, "salesforce")
    assert not finding.ok and "_trigger_log_archive" in finding.detail and "DB_UNAVAILABLE" in finding.detail


def test_a_schema_connect_never_created_says_how_to_link_it(conn):
    finding = doctor.connect_schema(conn, "not_linked_yet")
    assert not finding.ok and "does not exist" in finding.detail and "heroku connect:db:set" in finding.fix


def test_pending_migrations_are_named(conn):
    finding = doctor.migrations(conn, "app_never_migrated")
    assert not finding.ok and "never been migrated" in finding.detail and "python manage.py migrate" in finding.fix


def test_production_without_app_url_fails_the_config_check(app_config):
    cfg = config.load({"DATABASE_URL": app_config.database_url, "REDIS_URL": app_config.redis_url,
                       "SECRET_KEY": app_config.secret_key, "APP_ENV": "production",
                       "LOCAL_ORG_URL": "http://127.0.0.1:5100"})
    finding = doctor.settings(cfg)
    assert not finding.ok and "APP_URL is not set" in finding.detail
    assert "LOCAL_ORG_URL set in production" in finding.detail


def test_the_org_is_checked_when_credentials_are_set(app_config, local_org):
    cfg = config.load({"DATABASE_URL": app_config.database_url, "REDIS_URL": app_config.redis_url,
                       "LOCAL_ORG_URL": local_org.url})
    finding = doctor.org(cfg)
    assert finding.ok and "logged in" in finding.detail and "DailyApiRequests" in finding.detail


def test_an_org_that_refuses_the_login_fails_with_what_to_check(app_config):
    cfg = config.load({"DATABASE_URL": app_config.database_url, "REDIS_URL": app_config.redis_url,
                       "LOCAL_ORG_URL": f"http://127.0.0.1:{services.free_port()}"})
    finding = doctor.org(cfg)
    assert not finding.ok and "SF_USERNAME" in finding.fix


def test_unreachable_redis_fails_both_redis_and_the_checks_behind_it(app_config):
    cfg = config.load({"DATABASE_URL": app_config.database_url,
                       "REDIS_URL": f"redis://127.0.0.1:{services.free_port()}/0"})
    names = {f.name: f for f in doctor.run(cfg)}
    assert not names["Redis"].ok and "not reachable" in names["Redis"].detail
    assert not names["Workers"].ok and "Redis is not reachable" in names["Workers"].detail


def test_a_rediss_url_with_heroku_style_certificate_passes_and_says_tls(tls_redis):  # noqa: F811
    url, _ = tls_redis
    finding = doctor.redis_server(queue.connect(url), url)
    assert finding.ok and "over TLS (rediss://" in finding.detail
