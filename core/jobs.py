"""Background jobs whose status every dyno can read: a record in Postgres, the work on RQ.

A feature that starts long work from a request (web side):

    record, started = jobs.submit(conn, redis_conn, app_schema, kind="orders-export", owner="42",
                                  params={"export": "account-orders", "account_sfid": "001…"},
                                  func="worker.exports.export_csv")

The job function (worker side) is a plain module-level function named by that dotted path. It
takes the job id and reads its parameters from the record:

    def export_csv(job_id: str) -> None:
        with jobs.running(job_id) as job:                 # state started; finished or failed on exit
            ... job.params ... job.checkpoint ...         # what the last attempt committed, or None
            with conn.transaction():
                ...one unit of work...
                job.save_checkpoint(conn, {...}, done=n)  # in the same transaction as the work
            job.progress(n, total)                        # throttled, in its own short transaction
            job.result = {...}                            # shown on the status page

Why the record lives in Postgres: RQ's own status is in Redis, expires, and knows nothing of
progress; a Postgres row is read by every web dyno, survives restarts of any dyno (and of Redis),
and can be written in the same transaction as the job's output, which is what makes a retried job
produce its output exactly once. See docs/long-work.md.
"""

import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg import sql
from psycopg.types.json import Jsonb
from rq import Callback, Retry, get_current_job
from rq.exceptions import ShutDownImminentException
from rq.job import Job as RQJob
from rq.timeouts import JobTimeoutException

from core import config, db, queue

log = logging.getLogger(__name__)

QUEUED, STARTED, FINISHED, FAILED = "queued", "started", "finished", "failed"
ACTIVE = (QUEUED, STARTED)
# Progress is display only: write it at most this often, so a tight loop never hammers Postgres.
PROGRESS_INTERVAL = 0.5
# Three more tries after the first, spaced out so a restarting dependency has time to come back.
RETRY_MAX, RETRY_INTERVALS = 3, [10, 30, 60]
# What the user reads when our code failed: details go to the log, never to the page.
INTERNAL_ERROR = "The job failed on our side. It has been logged; please try again later."


class JobError(Exception):
    """A failure the user can understand: its message is shown on the status page."""


def job_id(kind: str, owner: str, params: dict) -> str:
    """The id of the run `owner` asks for: the same kind, owner and parameters give the same id."""
    canonical = json.dumps([kind, str(owner), params], sort_keys=True, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"


# Insert the record, or restart a run that has ended. While a run is queued or started the WHERE
# leaves the row alone and RETURNING gives nothing: the caller joins that run instead.
_CLAIM = """
INSERT INTO {jobs} (id, kind, owner, params) VALUES (%(id)s, %(kind)s, %(owner)s, %(params)s)
ON CONFLICT (id) DO UPDATE
    SET state = 'queued', done = 0, total = NULL, rate = NULL, attempts = 0, checkpoint = NULL,
        error = NULL, result = NULL, created_at = now(), started_at = NULL, updated_at = now(),
        finished_at = NULL
    WHERE {jobs}.state IN ('finished', 'failed')
RETURNING *
"""
_LOCK = "SELECT * FROM {jobs} WHERE id = %(id)s FOR UPDATE"
_GET = "SELECT * FROM {jobs} WHERE id = %(id)s"


def _jobs(app_schema: str) -> sql.Identifier:
    """The jobs table in the app schema."""
    return sql.Identifier(app_schema, "jobs")


def _q(statement: str, app_schema: str) -> sql.Composed:
    """A statement with {jobs} filled in."""
    return sql.SQL(statement).format(jobs=_jobs(app_schema))


def get(conn, app_schema: str, job_id: str) -> dict | None:
    """The job's record, or None."""
    return conn.execute(_q(_GET, app_schema), {"id": job_id}).fetchone()


def submit(conn, redis_conn, app_schema: str, *, kind: str, owner: str, params: dict, func: str,
           queue_name: str = "default", timeout: int = 3600) -> tuple[dict, bool]:
    """Start `func(job_id)` on a worker unless the same run is already queued or running.

    Returns (record, started): started is False when an identical run was joined. Runs in its own
    transaction (a savepoint inside the caller's), holding the row while it talks to Redis, so two
    simultaneous clicks cannot both enqueue.
    """
    jid = job_id(kind, owner, params)
    with conn.transaction():
        record = conn.execute(
            _q(_CLAIM, app_schema), {"id": jid, "kind": kind, "owner": str(owner), "params": Jsonb(params)}
        ).fetchone()
        if record is None:
            record = conn.execute(_q(_LOCK, app_schema), {"id": jid}).fetchone()
            if RQJob.exists(jid, connection=redis_conn):
                return record, False
            # Postgres says it is waiting but Redis lost it (flushed, or the enqueue failed): queue it again.
            log.warning("job %s was %s but unknown to RQ; queueing it again", jid, record["state"])
        _enqueue(redis_conn, jid, kind, owner, func, queue_name, timeout)
        return record, True


def _enqueue(redis_conn, jid, kind, owner, func, queue_name, timeout) -> None:
    """Put `func(jid)` on the queue with the retry policy every job shares."""
    queue.queue(redis_conn, queue_name).enqueue(
        func,
        jid,
        job_id=jid,
        retry=Retry(max=RETRY_MAX, interval=RETRY_INTERVALS),
        job_timeout=timeout,
        # The record in Postgres is what people read; RQ's copy need not outlive the run by long.
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        # Also called by RQ's registry cleanup when a worker was SIGKILLed mid-job (see on_failure).
        on_failure=Callback("core.jobs.on_failure"),
        description=f"{kind} for {owner}",
    )


def visible_to(record: dict, *, user_id: int | None, operator: bool) -> bool:
    """Only the user who started a job, or an operator, may see it."""
    return operator or (user_id is not None and record["owner"] == str(user_id))


# ---- the job side --------------------------------------------------------------------------

_START = """
UPDATE {jobs}
SET state = 'started', attempts = attempts + 1, started_at = coalesce(started_at, now()),
    updated_at = now(), finished_at = NULL, rate = NULL
WHERE id = %(id)s
RETURNING *
"""
# SKIP LOCKED: if the job's own work transaction holds the row (save_checkpoint not yet committed),
# skip this display-only write instead of waiting for a transaction that is waiting for us.
_PROGRESS = """
UPDATE {jobs} SET done = %(done)s, total = coalesce(%(total)s, total), rate = %(rate)s, updated_at = now()
WHERE id = (SELECT id FROM {jobs} WHERE id = %(id)s FOR UPDATE SKIP LOCKED)
"""
_CHECKPOINT = """
UPDATE {jobs} SET checkpoint = %(checkpoint)s, done = coalesce(%(done)s, done), total = coalesce(%(total)s, total),
    updated_at = now()
WHERE id = %(id)s
"""
_FINISH = """
UPDATE {jobs} SET state = 'finished', result = %(result)s, done = coalesce(%(done)s, done),
    total = coalesce(%(total)s, total), rate = coalesce(%(rate)s, rate), error = NULL,
    finished_at = now(), updated_at = now()
WHERE id = %(id)s
"""
# A retry pending goes back to queued (with the reason), the last failure is final.
_END_ATTEMPT = """
UPDATE {jobs} SET state = %(state)s, error = %(error)s, rate = NULL, updated_at = now(),
    finished_at = CASE WHEN %(state)s = 'failed' THEN now() END
WHERE id = %(id)s AND state = ANY(%(from_states)s)
"""


@dataclass
class JobRun:
    """The running job, as its function sees it."""

    conn: object
    app_schema: str
    record: dict
    result: dict = field(default_factory=dict)
    _last_write: float = 0.0
    _start_time: float = field(default_factory=time.monotonic)
    _start_done: int = 0
    _done: int = 0
    _total: int | None = None

    def __post_init__(self):
        self._start_done = self._done = self.record["done"] or 0
        self._total = self.record["total"]

    @property
    def id(self) -> str:
        """The job's id (also its RQ id)."""
        return self.record["id"]

    @property
    def params(self) -> dict:
        """What the request asked for, as submitted."""
        return self.record["params"]

    @property
    def checkpoint(self):
        """What the previous attempt committed with save_checkpoint (None on a first run)."""
        return self.record["checkpoint"]

    @property
    def rate(self) -> float | None:
        """Units per second in this attempt."""
        elapsed, units = time.monotonic() - self._start_time, self._done - self._start_done
        return round(units / elapsed, 1) if elapsed > 0 and units > 0 else None

    def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Record progress for the status page: at most every PROGRESS_INTERVAL s, in its own transaction."""
        self._done, self._total = done, total if total is not None else self._total
        now = time.monotonic()
        if not force and now - self._last_write < PROGRESS_INTERVAL and done != self._total:
            return
        self._last_write = now
        self.conn.execute(
            _q(_PROGRESS, self.app_schema), {"id": self.id, "done": done, "total": total, "rate": self.rate}
        )

    def save_checkpoint(self, conn, checkpoint, *, done: int | None = None, total: int | None = None) -> None:
        """Store where to resume, on the caller's connection, inside the transaction that did the work."""
        if done is not None:
            self._done = done
        conn.execute(
            _q(_CHECKPOINT, self.app_schema),
            {"id": self.id, "checkpoint": Jsonb(checkpoint), "done": done, "total": total},
        )
        self.record["checkpoint"] = checkpoint


def _will_retry() -> bool:
    """Whether RQ will retry the job running in this process (False outside RQ, e.g. from a CLI)."""
    current = get_current_job()
    return bool(current and current.retries_left)


def _error_message(exc: BaseException, retrying: bool) -> str:
    """What the status page says about an attempt that raised `exc`."""
    if isinstance(exc, ShutDownImminentException):
        reason = "Interrupted by a restart"
    elif isinstance(exc, JobTimeoutException):
        reason = "Took longer than its time limit"
    elif isinstance(exc, JobError):
        reason = str(exc)
    else:
        reason = "Failed on our side" if retrying else INTERNAL_ERROR
    return f"{reason}; it will be retried shortly." if retrying else reason


def _end_attempt(conn, app_schema, jid, error, retrying, from_states=(STARTED,)) -> None:
    """Record an attempt that raised: queued again for a retry, or failed for good."""
    with conn.transaction():
        # Never hang the shutdown on a row lock left by a half-dead work connection.
        conn.execute("SET LOCAL lock_timeout = '2s'")
        conn.execute(
            _q(_END_ATTEMPT, app_schema),
            {"id": jid, "state": QUEUED if retrying else FAILED, "error": error, "from_states": list(from_states)},
        )


@contextmanager
def running(job_id: str, *, database_url: str | None = None, app_schema: str | None = None):
    """Mark the job started, yield a JobRun, then mark it finished (with job.result) or failed.

    Any exception is re-raised so RQ sees it: a retry is scheduled while retries are left (the
    record goes back to queued, with the reason), otherwise the job is failed. That includes
    ShutDownImminentException, which HerokuWorker raises inside the job about 6 s after the dyno's
    SIGTERM: the job stops mid-unit, its open transaction rolls back, and the retry resumes from
    the last checkpoint. Never catch BaseException in a job body, or the dyno's SIGKILL will.
    """
    if database_url is None or app_schema is None:
        cfg = config.load()
        database_url, app_schema = database_url or cfg.database_url, app_schema or cfg.app_schema
    with db.connect(database_url) as conn:
        record = conn.execute(_q(_START, app_schema), {"id": job_id}).fetchone()
        if record is None:
            raise LookupError(f"no job record {job_id}")
        run = JobRun(conn, app_schema, record)
        try:
            yield run
        except BaseException as exc:
            retrying = _will_retry()
            try:
                _end_attempt(conn, app_schema, job_id, _error_message(exc, retrying), retrying)
            except Exception:
                log.exception("could not record the end of job %s", job_id)
            raise
        conn.execute(
            _q(_FINISH, app_schema),
            {"id": job_id, "result": Jsonb(run.result), "done": run._done, "total": run._total, "rate": run.rate},
        )


def on_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback: settle a record still marked started (its worker died, e.g. SIGKILL).

    When the work horse itself raised, `running()` has already recorded the outcome and this
    changes nothing. When a worker was killed, RQ's StartedJobRegistry cleanup (in another worker,
    once the dead one's heartbeat lease has expired) calls this before it schedules the retry.
    """
    retrying = bool(job.retries_left)
    message = "The worker running it stopped; it will be retried shortly." if retrying else INTERNAL_ERROR
    cfg = config.load()
    # A job that failed before running() could mark it started (say, its module failed to import)
    # is still queued: settle that too once no retry is left.
    from_states = (STARTED,) if retrying else ACTIVE
    with db.connect(cfg.database_url) as conn:
        _end_attempt(conn, cfg.app_schema, job.id, message, retrying, from_states)
