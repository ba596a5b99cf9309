"""`manage.py verify-sync` (setup step 5) against the local stack."""

import threading

import pytest
from click.testing import CliRunner

from core import connect
from manage import cli
from standins.connect.engine import Engine, Settings
from tests.sync_engine import reset_state


@pytest.fixture
def running_engine(conn, env, local_org, monkeypatch):
    """`python -m standins.connect`'s loop in a thread, syncing the test database with the local org."""
    reset_state(conn)
    monkeypatch.setenv("LOCAL_ORG_URL", local_org.url)
    stop = threading.Event()
    engine = Engine(env.database_url, "salesforce", local_org.salesforce,
                    Settings(poll_seconds=0.3, db_poll_seconds=0.2, notify_min_seconds=0.05),
                    mappings=connect.mappings(), log=lambda *_: None)
    thread = threading.Thread(target=engine.run, kwargs={"stop": stop.is_set}, daemon=True)
    thread.start()
    yield engine
    stop.set()
    thread.join(10)


def test_verify_sync_passes_against_the_local_stack(running_engine):
    result = CliRunner().invoke(cli, ["verify-sync", "--push-timeout", "20", "--pull-timeout", "20"])
    assert result.exit_code == 0, result.output
    for step in ("inserted a row in Postgres", "record in the org", "the org's change arrived in Postgres",
                 "the record is deleted in the org", "verify-sync passed"):
        assert step in result.output


def test_verify_sync_leaves_nothing_behind(running_engine, conn, local_org):
    CliRunner().invoke(cli, ["verify-sync", "--push-timeout", "20", "--pull-timeout", "20"])
    assert conn.execute("SELECT count(*) AS n FROM salesforce.contact").fetchone()["n"] == 0
    assert local_org.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_verify_sync_names_a_read_only_mapping(env, local_org, monkeypatch):
    monkeypatch.setenv("LOCAL_ORG_URL", local_org.url)
    result = CliRunner().invoke(cli, ["verify-sync", "--object", "Account"])
    assert result.exit_code == 1
    assert "mapping read-only" in result.output


def test_verify_sync_names_a_stopped_engine(env, conn, local_org, monkeypatch):
    monkeypatch.setenv("LOCAL_ORG_URL", local_org.url)
    result = CliRunner().invoke(cli, ["verify-sync", "--push-timeout", "1"])
    assert result.exit_code == 1
    assert "Connect paused or not running" in result.output and "stayed NEW" in result.output


def test_verify_sync_names_the_api_limit(env, conn, local_org, monkeypatch):
    monkeypatch.setenv("LOCAL_ORG_URL", local_org.url)
    local_org.set_api_limit(5)
    local_org.set_api_usage(5)
    result = CliRunner().invoke(cli, ["verify-sync", "--push-timeout", "1"])
    assert result.exit_code == 1
    assert "API limit" in result.output
