"""Graceful shutdown with real worker processes: a job stopped by SIGTERM or killed by SIGKILL is
retried, and its output is exactly what one uninterrupted run would have written.

The job is a real background export. To stop it mid-work at a known point, the test waits until
its first chunks are committed, then takes an exclusive lock on the orders table: the job's next
chunk query waits on that lock, so the worker is signalled while a chunk is in flight.
"""

import csv
import io
import signal
import threading

import pytest
from rq.registry import StartedJobRegistry
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

from core import db, exports, jobs, queue
from tests import connect_rows, processes

pytestmark = pytest.mark.slow
ORDERS = 150_000  # 8 chunks of exports.CHUNK_ROWS: several still to go when the table lock freezes one


def _record(conn, job_id):
    return jobs.get(conn, "app", job_id)


def _exported_order_numbers(conn, job_id) -> list[str]:
    body = b"".join(r["data"] for r in conn.execute(
        "SELECT data FROM app.export_file_chunks WHERE job_id = %s ORDER BY seq", (job_id,)))
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == list(exports.ORDER_HEADERS)
    return [r[0] for r in rows[1:]]


class TableLock:
    """Hold an exclusive lock on the orders table from another session, until released."""

    def __init__(self, database_url):
        self.database_url, self.locked, self.release = database_url, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self):
        with db.connect(self.database_url) as conn, conn.transaction():
            conn.execute('LOCK TABLE salesforce."order" IN ACCESS EXCLUSIVE MODE')
            self.locked.set()
            self.release.wait(60)

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(10), "could not lock the orders table"
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join()


@pytest.fixture
def export_job(conn, redis, env):
    """A background export of ORDERS orders, submitted as ops would submit it."""
    connect_rows.load(conn, accounts=100, orders=ORDERS)
    conn.execute("ANALYZE")
    record, _ = jobs.submit(conn, redis, "app", kind="export-orders", owner="ops", params={"export": "orders"},
                            func="worker.exports.export_csv")
    return record["id"]


def _interrupt_mid_export(conn, app_config, job_id, log, sig, after_signal):
    """Run a worker until the export has committed a chunk, freeze it mid-chunk, send `sig` to it."""
    worker = processes.start_worker(processes.environment(app_config), log)
    try:
        processes.wait_for(lambda: (_record(conn, job_id)["checkpoint"] or {}).get("rows", 0) > 0, 30,
                           "the export's first chunk")
        with TableLock(app_config.database_url):
            frozen = _record(conn, job_id)
            assert frozen["state"] == "started" and not frozen["checkpoint"].get("complete")
            processes.signal_dyno(worker, sig)
            after_signal(worker)
        worker.wait(30)
    finally:
        processes.stop(worker)
    return frozen


def _finish_with_new_worker(conn, app_config, job_id, log):
    worker = processes.start_worker(processes.environment(app_config), log)
    try:
        return processes.wait_for(lambda: (r := _record(conn, job_id))["state"] == "finished" and r, 60,
                                  "the retried export to finish", interval=0.2)
    finally:
        processes.stop(worker)


def test_export_stopped_by_sigterm_is_retried_and_has_every_row_once(conn, app_config, export_job, tmp_path):
    log = tmp_path / "worker.log"

    def let_herokuworker_stop_the_job(worker):
        # HerokuWorker raises ShutDownImminentException in the job 6 s after SIGTERM; the worker then exits.
        processes.wait_for(lambda: _record(conn, export_job)["state"] == "queued", 15,
                           "the interrupted job to go back to queued", interval=0.2)

    frozen = _interrupt_mid_export(conn, app_config, export_job, log, signal.SIGTERM, let_herokuworker_stop_the_job)
    interrupted = _record(conn, export_job)
    assert interrupted["error"].startswith("Interrupted by a restart")
    assert interrupted["checkpoint"]["rows"] == frozen["checkpoint"]["rows"]  # the chunk in flight rolled back

    finished = _finish_with_new_worker(conn, app_config, export_job, log)
    numbers = _exported_order_numbers(conn, export_job)
    assert len(numbers) == ORDERS and len(set(numbers)) == ORDERS
    assert finished["attempts"] == 2 and finished["done"] == ORDERS and finished["error"] is None


def _expire_dead_workers_leases(redis_conn):
    """Do what a minute of waiting would: let the killed worker's leases in Redis run out.

    RQ keeps a started job in StartedJobRegistry until its heartbeat lease (60 s past the last
    heartbeat) expires; the next maintenance run of any worker then retries it. The killed worker's
    scheduler lock also lasts 61 s. Moving both deadlines to now keeps this test short; everything
    after that (finding the abandoned job, the failure callback, the retry) is RQ's own code in a new
    worker process.
    """
    registry = StartedJobRegistry(queue=queue.queue(redis_conn))
    for member in redis_conn.zrange(registry.key, 0, -1):
        redis_conn.zadd(registry.key, {member: 1})
    for name in queue.QUEUES:
        redis_conn.delete(SCHEDULER_LOCKING_KEY_TEMPLATE % name)


def test_export_killed_by_sigkill_is_retried_and_has_every_row_once(conn, redis, app_config, export_job, tmp_path):
    log = tmp_path / "worker.log"
    frozen = _interrupt_mid_export(conn, app_config, export_job, log, signal.SIGKILL, lambda worker: worker.wait(10))
    killed = _record(conn, export_job)
    assert killed["state"] == "started"  # nobody could record anything: the process just vanished
    assert killed["checkpoint"]["rows"] == frozen["checkpoint"]["rows"]

    _expire_dead_workers_leases(redis)
    finished = _finish_with_new_worker(conn, app_config, export_job, log)
    numbers = _exported_order_numbers(conn, export_job)
    assert len(numbers) == ORDERS and len(set(numbers)) == ORDERS
    assert finished["attempts"] == 2 and finished["done"] == ORDERS
