"""Scoring runs: plan one, start it on RQ, read its progress; and start a training (docs/scoring.md).

Shared by every process that starts or watches a run: the CLI (Heroku Scheduler), the ops page and
the tests. Like invoicing (core/invoicing.py), a run is rows in the app schema — the run and its
chunks, ranges of `salesforce.account.id` — and one RQ job per chunk, enqueued by dotted path so
the web process never imports job code. The chunks run in the worker (worker/scoring.py), each one
transaction: scores, write-back and "chunk done" commit together, so a chunk killed by SIGTERM or
SIGKILL leaves nothing and its retry scores it once.
"""

from datetime import UTC, date, datetime

from psycopg import errors, sql
from rq import Callback, Retry
from rq.exceptions import DuplicateJobError

from core import chunked_runs, durations, jobs
from core import queue as queues
from core.scoring import cost
from core.scoring.features import FEATURES

CHUNK_JOB = "worker.scoring.run_chunk"
CHUNK_FAILED_CALLBACK = "worker.scoring.chunk_failed"
TRAIN_JOB = "worker.scoring.train"
TRAIN_KIND = "scoring-train"
# A chunk interrupted by a deploy (SIGTERM), a crash (SIGKILL) or a lost connection is retried.
CHUNK_RETRY = {"max": 5, "interval": [5, 15, 60]}
CHUNK_TIMEOUT = 600  # far above a chunk's real duration; only a stuck chunk reaches it
TRAIN_TIMEOUT = 3600
# Training is heavy and rare: on its own queue, a bigger dyno can serve it alone (docs/scoring.md, scaling).
TRAIN_QUEUE = "low"
# Accounts per chunk: a few seconds of work, so a retry redoes little. Each chunk's features are one
# statement over its id range (index range scans); the model is rebuilt once per worker process.
CHUNK_ACCOUNTS = 5000
HISTOGRAM_BINS = 20  # of 5 points each (sql/migrations/0550_scoring_runs.sql)


class ScoringError(Exception):
    """A run cannot start; the message says why and what to do."""


class NoModel(ScoringError):
    """There is no current model to score with."""

    def __init__(self):
        super().__init__("There is no current model yet: train one first with `python manage.py scores train --wait`.")


class ModelOutdated(ScoringError):
    """The current model reads features this code no longer computes (a deploy changed them)."""

    def __init__(self, version: int, missing: list[str]):
        super().__init__(
            f"The current model v{version} uses features that are no longer computed ({', '.join(missing)}): "
            "train a new one first with `python manage.py scores train --wait`."
        )


class RunAlreadyActive(ScoringError):
    """Another scoring run is queued or running."""

    def __init__(self, run_id: int):
        super().__init__(
            f"Scoring run #{run_id} is already running; watch it at /ops/model or with "
            f"`python manage.py scores status {run_id} --wait`. A new run can start once it has finished."
        )
        self.run_id = run_id


def _q(text: str, cfg) -> sql.Composed:
    return sql.SQL(text).format(app=sql.Identifier(cfg.app_schema), connect=sql.Identifier(cfg.connect_schema))


ACTIVE_RUN = "SELECT id FROM {app}.scoring_runs WHERE state IN ('queued', 'running')"
# The version and its features only: the web process plans runs too, and must not load an artifact (nor
# scikit-learn) for it.
CURRENT_VERSION = "SELECT version, features FROM {app}.scoring_models WHERE status = 'current'"
LAST_RUN_OF_MODEL = """
SELECT started_at FROM {app}.scoring_runs
 WHERE model_version = %(version)s AND state = 'finished' ORDER BY id DESC LIMIT 1
"""
# Every CHUNK_ACCOUNTS-th synced account id starts a chunk (the first chunk is open below).
BOUNDARIES = """
SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {connect}.account WHERE sfid IS NOT NULL) x
 WHERE n %% %(size)s = 1 AND n > 1 ORDER BY id
"""
INSERT_RUN = """
INSERT INTO {app}.scoring_runs (model_version, as_of, scored_at, chunks_total, accounts_estimate, writes_estimate,
                                started_by)
VALUES (%(version)s, %(as_of)s, %(scored_at)s, %(chunks_total)s, %(accounts)s, %(writes)s, %(started_by)s)
RETURNING id
"""
INSERT_CHUNK = """
INSERT INTO {app}.scoring_run_chunks (run_id, chunk, id_lo, id_hi) VALUES (%(run_id)s, %(chunk)s, %(lo)s, %(hi)s)
"""
MARK_ENQUEUED = """
UPDATE {app}.scoring_runs
   SET state = CASE WHEN chunks_total = 0 THEN 'finished' ELSE 'running' END,
       finished_at = CASE WHEN chunks_total = 0 THEN now() END
 WHERE id = %(run_id)s AND state = 'queued'
"""


def current_version(conn, cfg) -> int | None:
    """The current model's version (None before the first training), without loading it."""
    row = conn.execute(_q(CURRENT_VERSION, cfg)).fetchone()
    return row["version"] if row else None


def estimate(conn, cfg, model_version: int | None = None) -> cost.Cost:
    """The sync cost of a run with `model_version` (default: the current model) started now."""
    if model_version is None:
        model_version = current_version(conn, cfg)
    last = conn.execute(_q(LAST_RUN_OF_MODEL, cfg), {"version": model_version}).fetchone()
    return cost.measure(conn, cfg, since=last["started_at"] if last else None)


def start_run(conn, redis_conn, cfg, *, started_by: str = "cli", today: date | None = None,
              chunk_accounts: int = CHUNK_ACCOUNTS) -> tuple[int, cost.Cost]:
    """Plan a run with the current model, record it and its chunks, enqueue them; return (run id, cost).

    Raises NoModel, ModelOutdated or RunAlreadyActive, and redis.RedisError when Redis does not answer; in each
    case nothing is written.
    """
    active = conn.execute(_q(ACTIVE_RUN, cfg)).fetchone()
    if active:
        raise RunAlreadyActive(active["id"])
    current = conn.execute(_q(CURRENT_VERSION, cfg)).fetchone()
    if current is None:
        raise NoModel()
    version = current["version"]
    missing = [name for name in current["features"] if name not in FEATURES]
    if missing:
        raise ModelOutdated(version, missing)
    est = estimate(conn, cfg, version)
    bounds = [r["id"] for r in conn.execute(_q(BOUNDARIES, cfg), {"size": chunk_accounts})]
    edges = [None, *bounds, None] if est.accounts else []
    # Redis must answer before anything is written: a run recorded with none of its chunks queued
    # would be half-started.
    redis_conn.ping()
    now = datetime.now(UTC)
    try:
        with conn.transaction():
            run_id = conn.execute(_q(INSERT_RUN, cfg), {
                "version": version, "as_of": today or now.date(), "scored_at": now,
                "chunks_total": max(len(edges) - 1, 0), "accounts": est.accounts, "writes": est.writes,
                "started_by": started_by}).fetchone()["id"]
            with conn.cursor() as cur:
                cur.executemany(_q(INSERT_CHUNK, cfg), [{"run_id": run_id, "chunk": i, "lo": edges[i],
                                                         "hi": edges[i + 1]} for i in range(len(edges) - 1)])
    except errors.UniqueViolation:
        # Lost the race with a run started at the same moment: the partial unique index decided.
        active = conn.execute(_q(ACTIVE_RUN, cfg)).fetchone()
        raise RunAlreadyActive(active["id"] if active else 0) from None
    # Enqueue only after the commit, so a worker never picks up a chunk it cannot see yet.
    try:
        enqueue_chunks(queues.queue(redis_conn), run_id, range(len(edges) - 1))
    except Exception as exc:
        chunked_runs.fail_run(conn, TABLES, cfg.app_schema, run_id, f"could not enqueue chunks: {exc}")
        raise
    conn.execute(_q(MARK_ENQUEUED, cfg), {"run_id": run_id})
    return run_id, est


def chunk_job_id(run_id: int, chunk: int) -> str:
    """The RQ job id of a chunk: deterministic, so enqueuing it again never makes a second job."""
    return f"scoring-run-{run_id}-chunk-{chunk}"


def enqueue_chunks(q, run_id: int, chunks) -> int:
    """Enqueue the given chunks of a run (skipping any whose job already exists); return how many were added."""
    added = 0
    for chunk in chunks:
        try:
            q.enqueue(CHUNK_JOB, run_id, chunk, job_id=chunk_job_id(run_id, chunk), unique=True,
                      retry=Retry(**CHUNK_RETRY), job_timeout=CHUNK_TIMEOUT,
                      on_failure=Callback(CHUNK_FAILED_CALLBACK), description=f"scoring run {run_id} chunk {chunk}")
            added += 1
        except DuplicateJobError:
            continue
    return added


def start_training(conn, redis_conn, cfg, *, today: date | None = None) -> tuple[dict, bool]:
    """Enqueue a training for `today` (UTC); return (job record, started). A second ask the same day joins it."""
    today = today or datetime.now(UTC).date()
    return jobs.submit(conn, redis_conn, cfg.app_schema, kind=TRAIN_KIND, owner="ops",
                       params={"today": today.isoformat()}, func=TRAIN_JOB, queue_name=TRAIN_QUEUE,
                       timeout=TRAIN_TIMEOUT)


TABLES = chunked_runs.Tables("scoring_runs", "scoring_run_chunks")


def progress(conn, run_id: int, cfg) -> dict | None:
    """A run's progress and results as JSON-friendly values (None if there is no such run)."""
    found = chunked_runs.run_progress(conn, TABLES, cfg.app_schema, run_id)
    if found is None:
        return None
    run, common = found
    elapsed = common["elapsed_seconds"]
    return {
        **common, "model_version": run["model_version"],
        "accounts_scored": run["accounts_scored"], "accounts_estimate": run["accounts_estimate"],
        "rows_written": run["rows_written"], "writes_estimate": run["writes_estimate"],
        "histogram": list(run["histogram"]),
        "as_of": run["as_of"].isoformat(), "scored_at": run["scored_at"].isoformat(),
        "accounts_per_second": round(run["accounts_scored"] / elapsed, 1) if elapsed > 0 else 0.0,
    }


def recent_runs(conn, cfg, limit: int = 20) -> list[dict]:
    """The latest runs, newest first."""
    return chunked_runs.recent_runs(conn, TABLES, cfg.app_schema, limit)


def chunks(conn, run_id: int, cfg) -> list[dict]:
    """A run's chunks in order."""
    return chunked_runs.chunks(conn, TABLES, cfg.app_schema, run_id)


def summary(p: dict) -> str:
    """A run's result in a few lines, for the CLI and the logs."""
    lines = [
        f"scoring run #{p['id']} (model v{p['model_version']}): {p['state']} "
        f"in {durations.human(p['elapsed_seconds'])}",
        f"  accounts scored   {p['accounts_scored']:,}  ({p['accounts_per_second']:,.0f}/s)",
        f"  rows written      {p['rows_written']:,}  (estimated {p['writes_estimate']:,}; unchanged scores "
        "are not written)",
        f"  chunks            {p['chunks_done']}/{p['chunks_total']} done, {p['chunks_failed']} failed, "
        f"{p['chunks_retried']} retried",
    ]
    if p["error"]:
        lines.append(f"  error             {p['error']}")
    return "\n".join(lines)
