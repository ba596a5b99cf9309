"""Scoring runs: every account scored once, only the three churn fields written, only when they moved."""

import signal
import socket
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

import manage
from core import db
from core.scoring import runs, writeback
from standins.connect.writes import as_connect
from standins.org import seed
from tests import processes, scoring_rows
from worker import scoring as jobs

CHUNK = 25  # 80 accounts: four chunks
CONNECT_OWN = {"_hc_lastop", "_hc_err", "systemmodstamp"}


@pytest.fixture
def world(conn, env):
    """80 synced accounts with a learnable churn signal, and a current model trained on them."""
    sfids = scoring_rows.load(conn)
    scoring_rows.current_model(conn, env)
    return sfids


@pytest.fixture
def run_scoring(conn, redis, run_jobs):
    """Start a run of four chunks and let a worker finish it; return its progress."""

    def run(cfg):
        run_id, _ = runs.start_run(conn, redis, cfg, today=scoring_rows.TODAY, chunk_accounts=CHUNK)
        run_jobs()
        return runs.progress(conn, run_id, cfg)

    return run


def account_log(conn) -> list[dict]:
    """The app's account changes waiting for Connect."""
    return conn.execute("SELECT record_id, action, state, hstore_to_json(\"values\"::hstore) AS v "
                        "FROM salesforce._trigger_log WHERE table_name = 'account' ORDER BY id").fetchall()


def test_a_run_puts_a_churn_risk_on_every_account_with_orders(conn, env, world, run_scoring):
    p = run_scoring(env)
    rows = scoring_rows.account_rows(conn).values()
    assert p["state"] == "finished" and p["chunks_done"] == p["chunks_total"] == 4
    assert p["accounts_scored"] == p["rows_written"] == 80 and sum(p["histogram"]) == 80
    assert all(0 <= r["churn_risk__c"] <= 100 for r in rows)
    assert {r["churn_risk_band__c"] for r in rows} <= {"Low", "Medium", "High"}
    assert all(r["churn_risk_band__c"] == writeback.band(r["churn_risk__c"]) for r in rows)
    assert {r["_hc_lastop"] for r in rows} == {"PENDING"}


def test_lapsed_accounts_score_higher_than_active_ones(conn, env, world, run_scoring):
    run_scoring(env)
    rows = list(scoring_rows.account_rows(conn).values())
    active, lapsed = rows[0::2], rows[1::2]  # even accounts order up to today (tests/scoring_rows.py)
    mean = lambda rs: sum(r["churn_risk__c"] for r in rs) / len(rs)  # noqa: E731
    assert mean(lapsed) > mean(active) + 20


def test_no_other_account_column_is_ever_changed(conn, env, world, run_scoring):
    before = scoring_rows.account_rows(conn)
    run_scoring(env)
    after = scoring_rows.account_rows(conn)
    untouched = set(next(iter(before.values()))) - set(writeback.COLUMNS) - CONNECT_OWN
    assert before.keys() == after.keys()
    assert all({c: before[i][c] for c in untouched} == {c: after[i][c] for c in untouched} for i in before)
    logged = account_log(conn)
    assert len(logged) == 80 and {r["action"] for r in logged} == {"UPDATE"}
    assert set().union(*(r["v"] for r in logged)) == set(writeback.COLUMNS)


def test_only_rows_with_an_sfid_are_updated(conn, env, world, run_scoring):
    with as_connect(conn):
        local = conn.execute("INSERT INTO salesforce.account (name) VALUES ('Only in Postgres') RETURNING id"
                             ).fetchone()["id"]
    assert writeback.write(conn, env, {local: 99.0}, scoring_rows.TODAY) == 0
    run_scoring(env)
    row = scoring_rows.account_rows(conn)[local]
    assert row["churn_risk__c"] is None and row["churn_risk_scored_at__c"] is None
    assert local not in {r["record_id"] for r in account_log(conn)}


def test_a_rerun_with_the_same_model_writes_nothing(conn, env, world, run_scoring):
    run_scoring(env)
    before, logged = scoring_rows.account_rows(conn), len(account_log(conn))
    assert runs.estimate(conn, env).writes == 0
    second = run_scoring(env)
    assert second["accounts_scored"] == 80 and second["rows_written"] == 0
    assert scoring_rows.account_rows(conn) == before and len(account_log(conn)) == logged


def test_a_score_is_written_again_only_when_it_moved_a_point(conn, env, world, run_scoring):
    run_scoring(env)
    a, b = list(scoring_rows.account_rows(conn))[:2]
    with as_connect(conn):  # as if Salesforce held slightly and clearly different values
        conn.execute("UPDATE salesforce.account SET churn_risk__c = churn_risk__c + 0.5 WHERE id = %s", (a,))
        conn.execute("UPDATE salesforce.account SET churn_risk__c = churn_risk__c + 5 WHERE id = %s", (b,))
    second = run_scoring(env)
    assert second["rows_written"] == 1 and account_log(conn)[-1]["record_id"] == b


def test_the_cost_is_shown_before_the_run_starts(conn, env, world):
    est = runs.estimate(conn, env)
    assert (est.accounts, est.writes, est.soap_calls) == (80, 80, 1)
    assert "1% of the demo plan's 10,000-row cap" in "\n".join(est.lines())


def test_a_second_concurrent_run_is_refused(conn, redis, env, world):
    first, _ = runs.start_run(conn, redis, env, chunk_accounts=CHUNK)
    with pytest.raises(runs.RunAlreadyActive) as refused:
        runs.start_run(conn, redis, env, chunk_accounts=CHUNK)
    result = CliRunner().invoke(manage.cli, ["scores", "run"])
    assert refused.value.run_id == first
    assert result.exit_code == 1 and f"Scoring run #{first} is already running" in result.output
    assert conn.execute("SELECT count(*) AS n FROM app.scoring_runs").fetchone()["n"] == 1


def test_a_chunk_run_twice_scores_once(conn, redis, env, world, run_jobs):
    run_id, _ = runs.start_run(conn, redis, env, today=scoring_rows.TODAY, chunk_accounts=CHUNK)
    first = jobs.run_chunk(run_id, 0)
    assert first["accounts"] == CHUNK and jobs.run_chunk(run_id, 0) == {"skipped": "already done"}
    run_jobs()  # the queued copy of chunk 0 also finds it done
    p = runs.progress(conn, run_id, env)
    assert p["accounts_scored"] == 80 and len(account_log(conn)) == 80


def test_status_and_resume_of_a_scoring_run_from_the_cli(conn, redis, env, world, run_jobs):
    run_id, _ = runs.start_run(conn, redis, env, today=scoring_rows.TODAY, chunk_accounts=CHUNK)
    assert "0 enqueued again" in CliRunner().invoke(manage.cli, ["scores", "resume", str(run_id)]).output
    redis.flushdb()  # Redis lost the chunks' jobs: the run's rows in Postgres still say what is left
    resumed = CliRunner().invoke(manage.cli, ["scores", "resume", str(run_id)])
    assert resumed.exit_code == 0 and f"scoring run #{run_id}: 4 chunk(s) not done, 4 enqueued again" in resumed.output
    run_jobs()
    status = CliRunner().invoke(manage.cli, ["scores", "status", str(run_id)])
    assert status.exit_code == 0 and "finished" in status.output and "accounts scored   80" in status.output
    ended = CliRunner().invoke(manage.cli, ["scores", "resume", str(run_id)])
    assert ended.exit_code == 1 and "is finished; start a new run instead" in ended.output
    unknown = CliRunner().invoke(manage.cli, ["scores", "status", "999"])
    assert unknown.exit_code == 2 and "there is no scoring run #999" in unknown.output


def test_no_model_yet_is_refused_with_what_to_do(conn, redis, env):
    scoring_rows.load(conn, accounts=4)
    result = CliRunner().invoke(manage.cli, ["scores", "run"])
    assert result.exit_code == 1 and "scores train --wait" in result.output
    assert conn.execute("SELECT count(*) AS n FROM app.scoring_runs").fetchone()["n"] == 0


def test_a_model_reading_features_no_longer_computed_is_refused_with_what_to_do(conn, redis, env, world):
    conn.execute("UPDATE app.scoring_models SET features = features || '{share_supplies_365d}' "
                 "WHERE status = 'current'")
    with pytest.raises(runs.ModelOutdated):
        runs.start_run(conn, redis, env, chunk_accounts=CHUNK)
    result = CliRunner().invoke(manage.cli, ["scores", "run"])
    assert result.exit_code == 1 and "share_supplies_365d" in result.output and "scores train --wait" in result.output
    assert conn.execute("SELECT count(*) AS n FROM app.scoring_runs").fetchone()["n"] == 0


def test_redis_down_starts_nothing_and_says_so(conn, env, world, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    for command in (["scores", "run"], ["scores", "train"]):
        result = CliRunner().invoke(manage.cli, command)
        assert result.exit_code == 1 and "nothing was started or recorded" in result.output
    assert conn.execute("SELECT count(*) AS n FROM app.scoring_runs").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM app.jobs WHERE kind = 'scoring-train'").fetchone()["n"] == 0


@pytest.mark.slow
def test_worker_killed_mid_chunk_is_retried_and_scores_exactly_once(conn, redis, env, world, database_url, tmp_path):
    run_id, _ = runs.start_run(conn, redis, env, today=scoring_rows.TODAY, chunk_accounts=CHUNK)
    worker_env = processes.environment(env)
    # Hold the run row: the first chunk scores and writes back, then waits for this lock before it commits.
    with db.connect(database_url) as locker, locker.transaction():
        locker.execute("SELECT id FROM app.scoring_runs WHERE id = %s FOR UPDATE", (run_id,))
        first = processes.start_worker(worker_env, tmp_path / "first.log")
        processes.wait_for(lambda: waiting_on_the_run_row(conn) == 1, 30, "a chunk mid-transaction")
        processes.signal_dyno(first, signal.SIGKILL)
        first.wait(10)

    processes.wait_for(lambda: waiting_on_the_run_row(conn) == 0, 30, "the orphaned backend to end")
    assert account_log(conn) == [] and runs.progress(conn, run_id, env)["chunks_done"] == 0
    assert all(r["churn_risk__c"] is None for r in scoring_rows.account_rows(conn).values())

    # The new worker finds the dead one's job by its expired liveness key (worker/liveness.py).
    second = processes.start_worker(worker_env, tmp_path / "second.log")
    try:
        processes.wait_for(lambda: runs.progress(conn, run_id, env)["final"], 60, "the run to finish")
    finally:
        processes.stop(second)
    p = runs.progress(conn, run_id, env)
    killed = next(c for c in runs.chunks(conn, run_id, env) if c["attempts"] > 1)
    logged = account_log(conn)
    assert p["state"] == "finished" and p["chunks_retried"] == 1 and "AbandonedJobError" in killed["error"]
    assert p["accounts_scored"] == 80 and len(logged) == len({r["record_id"] for r in logged}) == 80


WAITING_ON_THE_RUN_ROW = """
SELECT count(*) AS n FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND wait_event_type = 'Lock' AND query LIKE '%scoring_runs%'
"""


def waiting_on_the_run_row(conn) -> int:
    """Backends blocked on the run row (a chunk that has written and wants to count itself)."""
    return conn.execute(WAITING_ON_THE_RUN_ROW).fetchone()["n"]


def test_a_score_reaches_the_org_and_comes_back_synced(conn, env, world, run_scoring, engine, local_org):
    seed.from_connect_schema(local_org.org, "salesforce")  # the org the synced accounts came from
    run_scoring(env)
    assert engine.push_once() == 80
    row = conn.execute("SELECT sfid, churn_risk__c, churn_risk_band__c FROM salesforce.account ORDER BY id LIMIT 1"
                       ).fetchone()
    record = local_org.salesforce().Account.get(row["sfid"])
    assert (record["Churn_Risk__c"], record["Churn_Risk_Band__c"]) == (row["churn_risk__c"],
                                                                       row["churn_risk_band__c"])
    assert record["Churn_Risk_Scored_At__c"].startswith("20")
    engine.pull_once("Account")
    lastops = {r["_hc_lastop"] for r in conn.execute("SELECT _hc_lastop FROM salesforce.account")}
    assert lastops == {"SYNCED"}
    assert conn.execute("SELECT churn_risk__c FROM salesforce.account WHERE sfid = %s",
                        (row["sfid"],)).fetchone()["churn_risk__c"] == row["churn_risk__c"]


def test_train_enqueues_a_job_that_a_worker_turns_into_the_current_model(conn, env, redis, run_jobs):
    scoring_rows.load(conn)
    queued = CliRunner().invoke(manage.cli, ["scores", "train"])
    assert queued.exit_code == 0 and "training queued" in queued.output
    run_jobs("low")  # training has its own queue, so a bigger dyno can serve it alone
    job = conn.execute("SELECT state, result FROM app.jobs WHERE kind = 'scoring-train'").fetchone()
    current = conn.execute("SELECT version FROM app.scoring_models WHERE status = 'current'").fetchone()
    assert job["state"] == "finished" and job["result"]["version"] == current["version"]


def test_a_weekly_training_does_nothing_on_other_days(conn, env, redis):
    today = datetime.now(UTC).weekday()
    other = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[(today + 1) % 7]
    result = CliRunner().invoke(manage.cli, ["scores", "train", "--only-on", other])
    assert result.exit_code == 0 and f"today is not a {other}" in result.output
    assert conn.execute("SELECT count(*) AS n FROM app.jobs").fetchone()["n"] == 0
