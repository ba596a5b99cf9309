"""The local Connect reads as Heroku Connect reads: intervals, accelerated polling, the Bulk API, deletes,
the drift window, the plan's row cap, and one log line per poll."""

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from core import connect, db, logs
from standins.connect import pull, state
from standins.connect.engine import Engine
from standins.org import ids, store
from tests.test_sync_console import heroku_console
from tests.test_sync_pull import create_accounts

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def synced(conn, table="account"):
    return sorted(r["name"] for r in conn.execute(f"SELECT name FROM salesforce.{table}"))  # noqa: S608


def states_seen(engine, monkeypatch, object_name):
    """The mapping states the engine is in at each API call it makes (what the console would see then)."""
    seen = []
    call = engine.call

    def watched(name, fn, *args, **kwargs):
        seen.append(state.mapping_row(engine.conn, object_name)["state"])
        return call(name, fn, *args, **kwargs)

    monkeypatch.setattr(engine, "call", watched)
    return seen


def org_accounts(local_org, names):
    """Accounts made in the org in one transaction (as a large data load leaves them), quicker than its API."""
    rows = [(ids.salesforce_id("001", 900_000_000 + n), Jsonb({"Name": name})) for n, name in enumerate(names)]
    with db.connect(local_org.org.database_url) as org_conn, org_conn.cursor() as cur:
        cur.executemany(sql.SQL("INSERT INTO {}.records (id, object, fields, created_date, system_modstamp) "
                                "VALUES (%s, 'Account', %s, {now}, {now})").format(
            sql.Identifier(local_org.org.schema), now=store.NOW), rows)


@pytest.fixture
def notified_engine(database_url, local_org, conn):
    """An engine whose Case mapping has accelerated polling (sf_notify_enabled), listening to the local org."""
    mappings = {name: dataclasses.replace(m, notify_enabled=(name == "Case")) for name, m in connect.mappings().items()}
    sync = Engine(database_url, "salesforce", salesforce_factory=local_org.salesforce, mappings=mappings)
    conn.execute("TRUNCATE local_connect.mapping_state, local_connect.connection_state")
    pull.configure(sync)
    pull.listen(sync, store.changes_channel(local_org.org.schema))
    yield sync
    sync.conn.close()


# ---- intervals -------------------------------------------------------------------------------------


def test_each_mapping_is_read_every_sf_polling_seconds_and_not_before(conn, engine, sf):
    pull.configure(engine, plan=connect.plan("enterprise"))
    first = pull.poll_due(engine, T0)
    assert {p.mapping for p in first.polls} == set(engine.mappings)  # never read: all due at once
    assert first.wait == 600  # every mapping of the file says sf_polling_seconds 600
    create_accounts(sf, ["Acme"])
    early = pull.poll_due(engine, T0 + timedelta(seconds=599))
    assert early.polls == () and early.wait == 1 and synced(conn) == []
    due = pull.poll_due(engine, T0 + timedelta(seconds=600))
    assert {p.mapping for p in due.polls} == set(engine.mappings) and synced(conn) == ["Acme"]


def test_the_demo_plan_polls_no_faster_than_10_minutes_and_the_time_scale_only_scales(engine):
    fast = dataclasses.replace(engine.mappings["Account"], polling_seconds=120)
    demo, enterprise = connect.plan("demo"), connect.plan("enterprise")
    assert pull.Reader(plan=enterprise).interval(fast) == 120
    assert pull.Reader(plan=demo).interval(fast) == 600  # the demo plan's rule
    assert pull.Reader(plan=demo, time_scale=300).interval(fast) == 2  # make run: 10 minutes in 2 s
    assert pull.Reader(plan=enterprise).interval(dataclasses.replace(fast, polling_seconds=30)) == 120  # 2–60 min
    assert pull.Reader(plan=enterprise).interval(dataclasses.replace(fast, polling_seconds=7200)) == 3600


def test_make_run_speeds_time_up_and_a_bad_scale_is_refused(monkeypatch):
    from core import config
    from standins import run

    monkeypatch.setattr(run, "read_env_file", dict)  # not the developer's .env
    monkeypatch.delenv("LOCAL_CONNECT_TIME_SCALE", raising=False)
    monkeypatch.delenv("CONNECT_PLAN", raising=False)
    env = run.local_env()
    assert pull.time_scale(env) == 300 and env["CONNECT_PLAN"] == "enterprise"
    assert pull.time_scale({}) == 1.0
    for bad in ("fast", "0", "-2"):
        with pytest.raises(config.ConfigError, match="LOCAL_CONNECT_TIME_SCALE"):
            pull.time_scale({"LOCAL_CONNECT_TIME_SCALE": bad})


def test_a_scaled_interval_comes_round_in_seconds(conn, engine, sf):
    pull.configure(engine, plan=connect.plan("demo"), time_scale=300)
    pull.poll_due(engine, T0)
    create_accounts(sf, ["Acme"])
    assert pull.poll_due(engine, T0 + timedelta(seconds=1.9)).polls == ()
    assert len(pull.poll_due(engine, T0 + timedelta(seconds=2)).polls) == len(engine.mappings)
    assert synced(conn) == ["Acme"]


# ---- accelerated polling ---------------------------------------------------------------------------


def test_a_change_notice_from_the_org_reads_a_notify_enabled_mapping_at_once(conn, notified_engine, sf):
    pull.poll_due(notified_engine, T0)
    sf.Case.create({"Subject": "Printer on fire"})
    sf.Account.create({"Name": "Acme"})
    polled = pull.poll_due(notified_engine, T0 + timedelta(seconds=5))
    assert [p.mapping for p in polled.polls] == ["Case"]  # Account is not notify-enabled: it waits its 10 min
    assert [r["subject"] for r in conn.execute("SELECT subject FROM salesforce.case")] == ["Printer on fire"]
    assert synced(conn) == []
    assert pull.poll_due(notified_engine, T0 + timedelta(seconds=6)).polls == ()  # one notice, one read


# ---- the Bulk API ----------------------------------------------------------------------------------


def test_above_the_bulk_threshold_the_changes_come_by_one_bulk_query_job(conn, engine, sf, monkeypatch):
    pull.configure(engine, bulk_threshold=5)
    create_accounts(sf, [f"Small {i}" for i in range(4)])
    assert pull.read(engine, "Account").bulk_batches == 0  # 4 changes: REST pages
    create_accounts(sf, [f"Big {i}" for i in range(6)])
    seen = states_seen(engine, monkeypatch, "Account")
    poll = pull.read(engine, "Account")
    assert poll.bulk_batches == 1 and poll.rows == 6
    assert "POLLING_SF_BULK" in seen
    assert len(synced(conn)) == 10
    jobs = conn.execute("SELECT operation, state FROM local_org.bulk_jobs WHERE job_type = 'V2Query'").fetchall()
    assert jobs == [{"operation": "query", "state": "JobComplete"}]
    row = conn.execute("SELECT name, sfid, systemmodstamp, isdeleted, _hc_lastop FROM salesforce.account "
                       "WHERE name = 'Big 0'").fetchone()
    assert row["sfid"].startswith("001") and row["systemmodstamp"] and row["isdeleted"] is False
    assert row["_hc_lastop"] == "SYNCED"
    assert pull.read(engine, "Account").rows == 0  # nothing repeated


def test_above_10000_changed_records_the_real_threshold_uses_the_bulk_api(conn, engine, local_org):
    pull.configure(engine, plan=connect.plan("enterprise"))
    org_accounts(local_org, [f"Bulk {i:05d}" for i in range(10_001)])
    poll = pull.read(engine, "Account")
    assert poll.bulk_batches >= 1 and poll.rows == 10_001
    assert conn.execute("SELECT count(*) AS n FROM salesforce.account").fetchone()["n"] == 10_001


# ---- deletes ---------------------------------------------------------------------------------------


def test_a_record_deleted_in_the_org_is_deleted_from_postgres_in_the_delete_pass(conn, engine, sf, monkeypatch):
    acme, globex = create_accounts(sf, ["Acme", "Globex"])
    pull.read(engine, "Account")
    sf.Account.delete(acme)
    seen = states_seen(engine, monkeypatch, "Account")
    poll = pull.read(engine, "Account")
    assert poll.deletes == 1 and "POLLING_SF_FOR_DELETES" in seen
    rows = conn.execute("SELECT sfid, isdeleted FROM salesforce.account").fetchall()
    assert rows == [{"sfid": globex, "isdeleted": False}]  # gone, not flagged: a hard delete, as Connect does
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0
    assert pull.read(engine, "Account").deletes == 0


# ---- the drift window ------------------------------------------------------------------------------


def late_commit(local_org, sf, engine, name):
    """A record whose transaction began before another record's and committed after that one was read."""
    with db.connect(local_org.org.database_url) as org_conn, org_conn.transaction():
        org_conn.execute("SELECT now()")  # the transaction's time: its records' SystemModstamp
        create_accounts(sf, ["Early bird"])
        pull.read(engine, "Account")
        store.create(org_conn, local_org.org.schema, "Account", {"Name": name})


def test_a_record_committed_late_with_an_older_systemmodstamp_is_still_read(conn, engine, sf, local_org):
    pull.configure(engine)
    late_commit(local_org, sf, engine, "Late")
    late = sf.query("SELECT SystemModstamp FROM Account WHERE Name = 'Late'")["records"][0]["SystemModstamp"]
    assert late < engine.conn.execute("SELECT watermark_ts FROM local_connect.mapping_state WHERE object_name = "
                                      "'Account'").fetchone()["watermark_ts"].isoformat()  # behind the watermark
    poll = pull.read(engine, "Account")
    assert poll.rows == 1 and synced(conn) == ["Early bird", "Late"]
    assert pull.read(engine, "Account").rows == 0  # read again within the window: unchanged, skipped


def test_without_the_drift_window_the_late_record_would_be_missed(conn, engine, sf, local_org):
    pull.configure(engine, drift=timedelta(0))
    late_commit(local_org, sf, engine, "Late")
    pull.read(engine, "Account")
    assert synced(conn) == ["Early bird"]


# ---- the plan's row cap ----------------------------------------------------------------------------


def test_over_the_row_cap_sync_stops_at_too_many_rows_and_nothing_is_lost(conn, engine, sf):
    tiny = dataclasses.replace(connect.plan("demo"), row_cap=5)
    pull.configure(engine, plan=tiny)
    create_accounts(sf, ["A1", "A2", "A3"])
    assert all(p.outcome == "ok" for p in pull.poll_due(engine, T0).polls)
    create_accounts(sf, ["B1", "B2", "B3", "B4"])
    stopped = pull.poll_due(engine, T0 + timedelta(minutes=10))
    assert stopped.state == "TOO_MANY_ROWS" and stopped.polls[-1].outcome == "TOO_MANY_ROWS"
    connection = conn.execute("SELECT state, detail FROM local_connect.connection_state").fetchone()
    assert connection["state"] == "TOO_MANY_ROWS" and "5 rows" in connection["detail"]
    assert synced(conn) == ["A1", "A2", "A3"]  # the page that would go over is not written
    assert pull.poll_due(engine, T0 + timedelta(minutes=11)).polls == ()  # tried: due again after the interval
    assert pull.stopped(engine)  # the engine's loop sends nothing either: app changes wait in the trigger log
    pull.configure(engine, plan=connect.plan("enterprise"))  # the cap raised
    resumed = pull.poll_due(engine, T0 + timedelta(minutes=20))
    assert resumed.state == "IDLE" and not pull.stopped(engine)
    assert synced(conn) == ["A1", "A2", "A3", "B1", "B2", "B3", "B4"]


def test_updates_within_the_cap_still_sync(conn, engine, sf):
    pull.configure(engine, plan=dataclasses.replace(connect.plan("demo"), row_cap=1))
    (acme,) = create_accounts(sf, ["Acme"])
    pull.read(engine, "Account")
    sf.Account.update(acme, {"Name": "Acme Renamed"})
    assert pull.read(engine, "Account").outcome == "ok" and synced(conn) == ["Acme Renamed"]


def test_the_archive_is_kept_as_long_as_the_plan_keeps_it(conn, engine):
    for row_id, days in ((1, 3), (2, 8), (3, 40)):
        conn.execute("INSERT INTO salesforce._trigger_log_archive (id, txid, created_at, updated_at, state, action, "
                     "table_name, record_id) VALUES (%s, 1, now() - make_interval(days => %s), now(), 'SUCCESS', "
                     "'UPDATE', 'contact', 1)", (row_id, days))
    pull.configure(engine, plan=connect.plan("enterprise"))
    assert pull.prune_archive(engine) == 1  # 31 days
    pull.configure(engine, plan=connect.plan("demo"))
    assert pull.prune_archive(engine) == 1  # 7 days
    assert [r["id"] for r in conn.execute("SELECT id FROM salesforce._trigger_log_archive")] == [1]


# ---- the console -----------------------------------------------------------------------------------


def test_the_console_shows_rows_used_against_the_plans_cap(ops, conn, as_connect):
    with as_connect(conn):
        conn.execute("INSERT INTO salesforce.account (sfid, name) VALUES ('001000000000001AAA', 'Acme'), "
                     "('001000000000002AAA', 'Globex')")
        conn.execute("INSERT INTO salesforce.product2 (sfid, name) VALUES ('01t000000000001AAA', 'Widget')")
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert '<th scope="row">Synced rows</th><td>3 now' in page
    assert "of the demo plan's 10,000 across all mappings" in page
    body = ops.get("/ops/sync.json").get_json()
    assert body["plan"] == {"plan": "demo", "rows_used": 3, "row_cap": 10_000, "over_cap": False}


def test_on_the_enterprise_plan_the_console_says_there_is_no_cap(app_config, conn):
    body = heroku_console(app_config, connect_plan="enterprise").get("/ops/sync.json").get_json()
    assert body["plan"] == {"plan": "enterprise", "rows_used": 0, "row_cap": None, "over_cap": False}


# ---- the log line ----------------------------------------------------------------------------------


def test_each_poll_logs_one_logfmt_line(conn, engine, sf, caplog):
    acme, _ = create_accounts(sf, ["Acme", "Globex"])
    pull.read(engine, "Account")
    sf.Account.delete(acme)
    caplog.set_level(logging.INFO, logger="standins.connect.pull")
    caplog.clear()
    pull.read(engine, "Account")
    lines = [logs.formatter().format(r) for r in caplog.records if r.name == "standins.connect.pull"]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith('level=INFO logger=standins.connect.pull request_id=- msg="Account ← Salesforce: '
                           '1 deleted (poll, ')
    facts = dict(pair.split("=", 1) for pair in line.split('" ', 1)[1].split(" "))
    assert facts["mapping"] == "Account" and facts["rows"] == "0"
    assert facts["api_calls"] == "2" and facts["bulk_batches"] == "0" and facts["deletes"] == "1"
    assert int(facts["duration_ms"]) >= 0 and facts["outcome"] == "ok"


def test_a_read_that_finds_nothing_is_not_an_info_line(conn, engine, sf, caplog):
    """make run reads every mapping every few seconds: only reads that bring something are INFO lines."""
    create_accounts(sf, ["Acme"])
    pull.read(engine, "Account")
    caplog.set_level(logging.DEBUG, logger="standins.connect.pull")
    caplog.clear()
    pull.read(engine, "Account")
    polls = [r for r in caplog.records if r.name == "standins.connect.pull"]
    assert [r.levelname for r in polls] == ["DEBUG"]


def test_the_cap_benchmark_scenario_stops_at_too_many_rows_and_loses_nothing(database_url, local_org, conn,
                                                                              monkeypatch):
    from bench.sync_cap import cap_scenario

    monkeypatch.setattr(pull, "PULL_PAGE", 4)
    result = cap_scenario(database_url, local_org.url, rows=12, existing=3,
                          plan=dataclasses.replace(connect.plan("demo"), row_cap=10))
    assert result["state_under_cap"] == "TOO_MANY_ROWS" and 3 < result["rows_at_stop"] <= 10
    assert result["state_after_raise"] == "IDLE"
    assert result["org_records"] == result["rows_synced"] == 15 and result["lost"] == 0
