"""Scoring jobs: one chunk of a run (a range of accounts), scored and written back exactly once; training.

A chunk is ONE transaction: lock the chunk's row, compute the features of its accounts as of the
run's date, score them with the run's model, write the changed scores to salesforce.account (the
trigger log records them for Connect), mark the chunk done and count it on the run. Killed anywhere
before the commit, nothing of it remains and RQ's retry runs it again; run twice after a commit, the
second sees 'done' and does nothing. Either way: every account scored once, no write sent twice.
"""

import logging
from datetime import UTC, date

import numpy as np
from psycopg import sql

from core import chunked_runs, config, db, jobs
from core.scoring import registry, training, writeback
from core.scoring import runs as rules

log = logging.getLogger(__name__)

# FOR UPDATE: a second copy of the same chunk (a retry racing a worker presumed dead) waits here,
# then sees 'done' and stops.
LOCK_CHUNK = """
SELECT c.state, c.id_lo, c.id_hi, r.model_version, r.as_of, r.scored_at
  FROM {app}.scoring_run_chunks c JOIN {app}.scoring_runs r ON r.id = c.run_id
 WHERE c.run_id = %(run_id)s AND c.chunk = %(chunk)s
   FOR UPDATE OF c
"""
MARK_DONE = """
UPDATE {app}.scoring_run_chunks SET state = 'done', finished_at = now(), accounts = %(accounts)s, written = %(written)s
 WHERE run_id = %(run_id)s AND chunk = %(chunk)s
"""
# The run row is updated last, so its lock is held only for the commit; chunks_done + 1 under that
# row lock makes "the last chunk finishes the run" race-free with any number of workers.
COUNT_ON_RUN = """
UPDATE {app}.scoring_runs
   SET chunks_done = chunks_done + 1,
       accounts_scored = accounts_scored + %(accounts)s,
       rows_written = rows_written + %(written)s,
       histogram = (SELECT array_agg(h + c ORDER BY i) FROM unnest(histogram, %(histogram)s::integer[])
                                                            WITH ORDINALITY AS x(h, c, i)),
       state = CASE WHEN chunks_done + 1 >= chunks_total AND state IN ('queued', 'running') THEN 'finished'
                    ELSE state END,
       finished_at = CASE WHEN chunks_done + 1 >= chunks_total THEN now() ELSE finished_at END
 WHERE id = %(run_id)s
RETURNING chunks_done, chunks_total, state
"""
RUN_MODEL = "SELECT model_version FROM {app}.scoring_runs WHERE id = %(run_id)s"


def _q(text: str, cfg) -> sql.Composed:
    return sql.SQL(text).format(app=sql.Identifier(cfg.app_schema), connect=sql.Identifier(cfg.connect_schema))


def histogram(scores) -> list[int]:
    """Counts of scores per 5-point bin (100 falls in the last)."""
    bins = np.floor_divide(np.fromiter(scores, dtype=np.float64), 100 / rules.HISTOGRAM_BINS).astype(np.int64)
    return np.bincount(np.minimum(bins, rules.HISTOGRAM_BINS - 1), minlength=rules.HISTOGRAM_BINS).tolist()


def score_chunk(conn, cfg, run_id: int, chunk: int) -> dict | None:
    """Score and write back one chunk in one transaction; return its counts, or None when it was already done."""
    with conn.transaction():
        row = conn.execute(_q(LOCK_CHUNK, cfg), {"run_id": run_id, "chunk": chunk}).fetchone()
        if row is None or row["state"] == "done":
            return None
        model = registry.cached(conn, cfg, row["model_version"])  # rebuilt once per process, checked every chunk
        # The chunk's id range itself, not a list of its ids: the feature statement reads it by index range scans.
        scores = model.score(conn, cfg, None, row["as_of"], id_range=(row["id_lo"], row["id_hi"]))
        scored_at = row["scored_at"].astimezone(UTC).replace(tzinfo=None)  # Connect's timestamps are naive UTC
        written = writeback.write(conn, cfg, scores, scored_at)
        counts = {"run_id": run_id, "chunk": chunk, "accounts": len(scores), "written": written,
                  "histogram": histogram(scores.values())}
        conn.execute(_q(MARK_DONE, cfg), counts)
        run = conn.execute(_q(COUNT_ON_RUN, cfg), counts).fetchone()
    return {"accounts": len(scores), "written": written, **run}


def warm(job) -> None:
    """In the worker's parent process, before it forks a chunk's work-horse: have the run's model rebuilt.

    RQ runs each job in a forked work-horse, whose memory ends with the job; a model rebuilt in the
    parent is inherited by every horse forked after it (registry.cached checks its digest each
    chunk). Only ever an optimisation: on any error the horse loads the model itself.
    """
    if job.func_name != rules.CHUNK_JOB:
        return
    try:
        cfg = config.load()
        with db.connect(cfg.database_url) as conn:
            row = conn.execute(_q(RUN_MODEL, cfg), {"run_id": job.args[0]}).fetchone()
            if row is not None:
                registry.cached(conn, cfg, row["model_version"])
    except Exception:  # the chunk itself will say what is wrong
        log.warning("could not preload the model for %s", job.id, exc_info=True)


def run_chunk(run_id: int, chunk: int) -> dict:
    """RQ job: score chunk `chunk` of run `run_id` (idempotent; exceptions propagate so RQ retries)."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        if not chunked_runs.take_chunk(conn, rules.TABLES, cfg.app_schema, run_id, chunk):
            return {"skipped": "already done"}
        result = score_chunk(conn, cfg, run_id, chunk)
    if result is None:
        return {"skipped": "already done"}
    log.info("scoring run %s chunk %s: %s accounts scored, %s rows written (%s/%s chunks)", run_id, chunk,
             result["accounts"], result["written"], result["chunks_done"], result["chunks_total"])
    return result


def chunk_failed(job, connection, exc_type, exc_value, traceback):
    """RQ failure callback (also for jobs found abandoned after a SIGKILL): record the error on the chunk.

    When no retry is left the chunk is marked failed and so is its run, which lets a new run start;
    the changed-only write-back makes that run write only what still differs.
    """
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        final, error = chunked_runs.record_chunk_failure(conn, rules.TABLES, cfg.app_schema, job, exc_type,
                                                         exc_value)
    run_id, chunk = job.args
    log.warning("scoring run %s chunk %s failed (%s): %s", run_id, chunk, "final" if final else "will retry", error)


def train(job_id: str) -> None:
    """RQ job: train a model as of the job's day and register it under the promotion rule."""
    cfg = config.load()
    with jobs.running(job_id, database_url=cfg.database_url, app_schema=cfg.app_schema) as job, \
            db.connect(cfg.database_url) as conn:
        job.progress(0, 1, force=True)
        model = training.train(conn, cfg, today=date.fromisoformat(job.params["today"]))
        job.progress(1, 1, force=True)
        job.result = {"version": model["version"], "status": model["status"], "reason": model.get("reason"),
                      "href": "/ops/model"}
