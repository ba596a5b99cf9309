"""Real worker processes: a worker SIGKILLed in the middle of a chunk, a new worker, an exact result."""

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry

from core import db, invoicing, queue
from core.connect import ROOT
from tests.connect_rows import add_accounts, add_orders

pytestmark = pytest.mark.slow

WAITING_ON_THE_RUN_ROW = """
SELECT count(*) AS n FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND wait_event_type = 'Lock' AND query LIKE '%%invoice_runs%%'
"""


def wait_for(predicate, timeout=30.0, what="condition"):
    """Poll until predicate() is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (RQ's work-horse runs in its own process group, so killpg misses it)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += process_tree(int(child))
    return found


def kill_dyno(process: subprocess.Popen) -> None:
    """What the platform does 30 s after SIGTERM: SIGKILL to every process of the dyno."""
    for pid in process_tree(process.pid):
        os.kill(pid, signal.SIGKILL)
    process.wait(10)


def start_worker(env, tmp_path, *args):
    """`python -m worker` in its own process group, as a worker dyno runs it."""
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115 closed with the process
    environ = {**os.environ, "DATABASE_URL": env.database_url, "REDIS_URL": env.redis_url, "APP_ENV": "test"}
    return subprocess.Popen([sys.executable, "-m", "worker", *args], cwd=ROOT, env=environ, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_worker_killed_mid_chunk_is_retried_and_bills_exactly_once(conn, redis, env, database_url, tmp_path):
    accounts = add_accounts(conn, 9)
    add_orders(conn, [(a, "2026-10-05", 10 * (i + 1) + k, "Delivered") for i, a in enumerate(accounts)
                      for k in range(3)])
    run_id, est = invoicing.start_run(conn, redis, "2026-10", env, opts=invoicing.Settings(chunks=3))

    # Hold the run row: the first chunk does all its billing, then waits for this lock just before it commits.
    with db.connect(database_url) as locker:
        locker.execute("BEGIN")
        locker.execute("SELECT id FROM app.invoice_runs WHERE id = %s FOR UPDATE", (run_id,))
        first = start_worker(env, tmp_path)
        wait_for(lambda: conn.execute(WAITING_ON_THE_RUN_ROW).fetchone()["n"] == 1, what="a chunk mid-transaction")
        kill_dyno(first)
        locker.execute("ROLLBACK")

    # The killed chunk left nothing behind: its transaction never committed.
    wait_for(lambda: conn.execute(WAITING_ON_THE_RUN_ROW).fetchone()["n"] == 0, what="the orphaned backend to end")
    assert conn.execute("SELECT count(*) AS n FROM app.invoice_lines").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM salesforce.invoice__c").fetchone()["n"] == 0
    assert invoicing.progress(conn, run_id, env)["chunks_done"] == 0

    # RQ finds the job abandoned once its heartbeat expires (about 90 s after the kill, when a worker
    # next cleans its registries); the cutoff is moved forward here instead of waiting.
    StartedJobRegistry(queue=queue.queue(redis)).cleanup(timestamp=time.time() + 3600)

    second = start_worker(env, tmp_path, "--with-scheduler")  # retries wait 5 s in the scheduled registry
    try:
        wait_for(lambda: invoicing.progress(conn, run_id, env)["final"], timeout=45, what="the run to finish")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)

    p = invoicing.progress(conn, run_id, env)
    killed = next(c for c in invoicing.chunks(conn, run_id, env) if c["attempts"] > 1)
    totals = conn.execute("SELECT count(*) AS n, sum(amount__c::numeric) AS amount, sum(order_count__c) AS orders "
                          "FROM salesforce.invoice__c").fetchone()
    assert p["state"] == "finished" and p["chunks_done"] == 3 and p["chunks_retried"] == 1
    assert killed["attempts"] == 2 and "AbandonedJobError" in killed["error"]
    assert totals["n"] == 9 and totals["orders"] == 27 and p["orders_invoiced"] == 27
    assert totals["amount"] == est.amount == Decimal(p["amount_total"])
    assert conn.execute("SELECT count(*) AS n FROM app.invoice_lines").fetchone()["n"] == 27
