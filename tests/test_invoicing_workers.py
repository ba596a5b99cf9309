"""Real worker processes: a worker SIGKILLed mid-chunk, or Redis losing its data mid-run; an exact result."""

import dataclasses
import signal
import time
from decimal import Decimal

import pytest
from rq.registry import StartedJobRegistry
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

from core import config, db, invoicing, queue
from tests import processes
from tests.invoicing_rows import add_accounts, add_orders
from worker import liveness

pytestmark = pytest.mark.slow

WAITING_ON_THE_RUN_ROW = """
SELECT count(*) AS n FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND wait_event_type = 'Lock' AND query LIKE '%invoice_runs%'
"""


def waiting_on_the_run_row(conn) -> int:
    """Backends blocked on the run row (a chunk that has billed and wants to count itself)."""
    return conn.execute(WAITING_ON_THE_RUN_ROW).fetchone()["n"]


def lease_end(redis_conn) -> float:
    """When RQ's heartbeat lease of the started job runs out: until then RQ alone would not look at it."""
    return max(score for _, score in redis_conn.zrange(StartedJobRegistry(queue=queue.queue(redis_conn)).key,
                                                       0, -1, withscores=True))


def test_worker_killed_mid_chunk_is_retried_and_bills_exactly_once(conn, redis, env, database_url, tmp_path):
    accounts = add_accounts(conn, 9)
    add_orders(conn, [(a, "2026-10-05", 10 * (i + 1) + k, "Delivered") for i, a in enumerate(accounts)
                      for k in range(3)])
    three_chunks = dataclasses.replace(env, invoicing=config.Invoicing(chunks=3))
    preview = invoicing.estimate(conn, "2026-10", three_chunks)
    run_id, _ = invoicing.start_run(conn, redis, "2026-10", three_chunks)
    worker_env = processes.environment(env)

    # Hold the run row: the first chunk does all its billing, then waits for this lock just before it commits.
    with db.connect(database_url) as locker, locker.transaction():
        locker.execute("SELECT id FROM app.invoice_runs WHERE id = %s FOR UPDATE", (run_id,))
        first = processes.start_worker(worker_env, tmp_path / "first.log")
        processes.wait_for(lambda: waiting_on_the_run_row(conn) == 1, 30, "a chunk mid-transaction")
        processes.signal_dyno(first, signal.SIGKILL)
        first.wait(10)

    # The killed chunk left nothing behind: its transaction never committed.
    processes.wait_for(lambda: waiting_on_the_run_row(conn) == 0, 30, "the orphaned backend to end")
    assert conn.execute("SELECT count(*) AS n FROM app.invoice_lines").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM salesforce.invoice__c").fetchone()["n"] == 0
    assert invoicing.progress(conn, run_id, env)["chunks_done"] == 0

    # No waiting for RQ's lease: the new worker sees that the dead one's liveness key has expired
    # (worker/liveness.py), hands the job to RQ's own abandoned-job handling and frees the dead
    # scheduler's lock, so the retry runs in seconds.
    rq_would_look_at = lease_end(redis)
    second = processes.start_worker(worker_env, tmp_path / "second.log")
    try:
        processes.wait_for(lambda: invoicing.progress(conn, run_id, env)["final"], 60, "the run to finish")
    finally:
        processes.stop(second)
    assert time.time() < rq_would_look_at, "recovered only after RQ's own lease ran out"

    p = invoicing.progress(conn, run_id, env)
    killed = next(c for c in invoicing.chunks(conn, run_id, env) if c["attempts"] > 1)
    totals = conn.execute("SELECT count(*) AS n, sum(amount__c::numeric) AS amount, sum(order_count__c) AS orders "
                          "FROM salesforce.invoice__c").fetchone()
    assert p["state"] == "finished" and p["chunks_done"] == 3 and p["chunks_retried"] == 1
    assert killed["attempts"] == 2 and "AbandonedJobError" in killed["error"]
    assert totals["n"] == 9 and totals["orders"] == 27 and p["orders_invoiced"] == 27
    assert totals["amount"] == preview.amount == Decimal(p["amount_total"]) == Decimal(1377)
    assert conn.execute("SELECT count(*) AS n FROM app.invoice_lines").fetchone()["n"] == 27


def test_redis_that_lost_its_data_gets_the_unfinished_chunks_again(conn, redis, env, database_url, tmp_path):
    accounts = add_accounts(conn, 9)
    add_orders(conn, [(a, "2026-10-05", 10 * (i + 1) + k, "Delivered") for i, a in enumerate(accounts)
                      for k in range(3)])
    three_chunks = dataclasses.replace(env, invoicing=config.Invoicing(chunks=3))
    preview = invoicing.estimate(conn, "2026-10", three_chunks)
    worker = processes.start_worker(processes.environment(env), tmp_path / "worker.log")
    try:
        processes.wait_for(lambda: redis.exists(liveness.KNOWN), 30, "the worker to look at Redis")
        run_id, _ = invoicing.start_run(conn, redis, "2026-10", three_chunks)
        # The first chunk bills and waits for the run row; the other two wait in the queue. Then
        # Redis comes back empty (a restart without persistence): both queued jobs, the started
        # job's entry and the scheduler's lock are gone. Only Postgres knows the run is unfinished.
        with db.connect(database_url) as locker, locker.transaction():
            locker.execute("SELECT id FROM app.invoice_runs WHERE id = %s FOR UPDATE", (run_id,))
            processes.wait_for(lambda: waiting_on_the_run_row(conn) == 1, 30, "a chunk mid-transaction")
            redis.flushall()
            assert queue.queue(redis).count == 0
        processes.wait_for(lambda: invoicing.progress(conn, run_id, env)["final"], 60, "the run to finish")
        processes.wait_for(lambda: redis.exists(SCHEDULER_LOCKING_KEY_TEMPLATE % "default"), 30,
                           "a scheduler to hold the queue's lock again")
    finally:
        processes.stop(worker)

    p = invoicing.progress(conn, run_id, env)
    totals = conn.execute("SELECT count(*) AS n, sum(amount__c::numeric) AS amount FROM salesforce.invoice__c"
                          ).fetchone()
    assert p["state"] == "finished" and p["chunks_done"] == 3 and p["orders_invoiced"] == 27
    assert totals["n"] == 9 and totals["amount"] == preview.amount == Decimal(p["amount_total"])
    assert conn.execute("SELECT count(*) AS n FROM app.invoice_lines").fetchone()["n"] == 27
    assert "enqueued again" in (tmp_path / "worker.log").read_text()


def test_a_killed_chunk_is_retried_before_the_chunks_queued_behind_it(conn, redis, env, database_url, tmp_path):
    accounts = add_accounts(conn, 9)
    add_orders(conn, [(a, "2026-10-05", 10 * (i + 1), "Delivered") for i, a in enumerate(accounts)])
    three_chunks = dataclasses.replace(env, invoicing=config.Invoicing(chunks=3))
    run_id, _ = invoicing.start_run(conn, redis, "2026-10", three_chunks)
    worker_env = processes.environment(env)
    q = queue.queue(redis)
    killed, behind = invoicing.chunk_job_id(run_id, 0), invoicing.chunk_job_id(run_id, 2)

    with db.connect(database_url) as chunk_1, chunk_1.transaction():
        with db.connect(database_url) as run_row, run_row.transaction():
            run_row.execute("SELECT id FROM app.invoice_runs WHERE id = %s FOR UPDATE", (run_id,))
            first = processes.start_worker(worker_env, tmp_path / "first.log")
            processes.wait_for(lambda: waiting_on_the_run_row(conn) == 1, 30, "chunk 0 mid-transaction")
            processes.signal_dyno(first, signal.SIGKILL)
            first.wait(10)
            # Hold chunk 1's row: the next worker takes chunk 1 and waits there, leaving chunk 2 queued.
            chunk_1.execute("SELECT chunk FROM app.invoice_run_chunks WHERE run_id = %s AND chunk = 1 FOR UPDATE",
                            (run_id,))
        processes.wait_for(lambda: waiting_on_the_run_row(conn) == 0, 30, "the orphaned backend to end")
        second = processes.start_worker(worker_env, tmp_path / "second.log")
        try:
            # It reaps chunk 0, and its scheduler moves the retry into the queue: ahead of chunk 2.
            processes.wait_for(lambda: killed in q.get_job_ids(), 60, "chunk 0's retry to be queued")
            assert q.get_job_ids() == [killed, behind]
        except BaseException:
            processes.stop(second)
            raise
    try:
        processes.wait_for(lambda: invoicing.progress(conn, run_id, env)["final"], 60, "the run to finish")
    finally:
        processes.stop(second)
    assert invoicing.progress(conn, run_id, env)["state"] == "finished"
