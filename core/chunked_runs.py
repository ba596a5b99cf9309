"""What every chunked batch run shares: a run row, its chunk rows, and the progress read from them.

Invoicing (`invoice_runs` / `invoice_run_chunks`) and churn scoring (`scoring_runs` /
`scoring_run_chunks`) keep their runs the same way: one row per run with `state`, `chunks_done`,
`chunks_total`, `started_at`, `finished_at`, and one row per chunk with `state`, `attempts` and
`error`. This module holds what they share — taking a chunk, recording a failed one, failing a run,
reading progress; each pattern adds its own figures and its own billing or scoring (core/invoicing.py,
core/scoring/runs.py).
"""

from dataclasses import dataclass

from psycopg import sql

RUN = "SELECT * FROM {app}.{runs} WHERE id = %(run_id)s"
RECENT_RUNS = "SELECT * FROM {app}.{runs} ORDER BY id DESC LIMIT %(limit)s"
CHUNKS = "SELECT * FROM {app}.{chunks} WHERE run_id = %(run_id)s ORDER BY chunk"
UNFINISHED_CHUNKS = "SELECT chunk FROM {app}.{chunks} WHERE run_id = %(run_id)s AND state <> 'done' ORDER BY chunk"
CHUNK_TOTALS = """
SELECT count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE attempts > 1 OR error IS NOT NULL) AS retried,
       max(error) FILTER (WHERE error IS NOT NULL) AS last_error
  FROM {app}.{chunks} WHERE run_id = %(run_id)s
"""
FINAL_STATES = ("finished", "failed")
# A chunk a worker takes: counted as an attempt; no row back when it is done already.
MARK_RUNNING = """
UPDATE {app}.{chunks} SET state = 'running', attempts = attempts + 1, started_at = now()
 WHERE run_id = %(run_id)s AND chunk = %(chunk)s AND state <> 'done'
RETURNING chunk
"""
RECORD_ERROR = """
UPDATE {app}.{chunks} SET error = %(error)s, state = CASE WHEN %(final)s THEN 'failed' ELSE state END
 WHERE run_id = %(run_id)s AND chunk = %(chunk)s AND state <> 'done'
"""
MARK_FAILED = """
UPDATE {app}.{runs} SET state = 'failed', error = %(error)s, finished_at = now()
 WHERE id = %(run_id)s AND state IN ('queued', 'running')
"""


@dataclass(frozen=True)
class Tables:
    """Where one pattern keeps its runs and their chunks (in the app's schema)."""

    runs: str
    chunks: str

    def q(self, statement: str, app_schema: str) -> sql.Composed:
        return sql.SQL(statement).format(app=sql.Identifier(app_schema), runs=sql.Identifier(self.runs),
                                         chunks=sql.Identifier(self.chunks))


def run_progress(conn, tables: Tables, app_schema: str, run_id: int) -> tuple[dict, dict] | None:
    """(the run row, the progress every run shows), or None if there is no such run."""
    run = conn.execute(tables.q(RUN, app_schema), {"run_id": run_id}).fetchone()
    if run is None:
        return None
    totals = conn.execute(tables.q(CHUNK_TOTALS, app_schema), {"run_id": run_id}).fetchone()
    end = run["finished_at"] or conn.execute("SELECT now() AS t").fetchone()["t"]
    elapsed = max((end - run["started_at"]).total_seconds(), 0.0)
    done, total = run["chunks_done"], run["chunks_total"]
    eta = round(elapsed / done * (total - done), 1) if run["state"] == "running" and done else None
    return run, {
        "id": run["id"], "state": run["state"], "final": run["state"] in FINAL_STATES,
        "chunks_done": done, "chunks_total": total, "chunks_running": totals["running"],
        "chunks_failed": totals["failed"], "chunks_retried": totals["retried"], "last_error": totals["last_error"],
        "percent": round(100 * done / total, 1) if total else 100.0,
        "started_by": run["started_by"], "started_at": run["started_at"].isoformat(),
        "finished_at": run["finished_at"].isoformat() if run["finished_at"] else None,
        "elapsed_seconds": round(elapsed, 2), "eta_seconds": eta, "error": run["error"],
    }


def recent_runs(conn, tables: Tables, app_schema: str, limit: int = 20) -> list[dict]:
    """The latest runs, newest first."""
    return conn.execute(tables.q(RECENT_RUNS, app_schema), {"limit": limit}).fetchall()


def chunks(conn, tables: Tables, app_schema: str, run_id: int) -> list[dict]:
    """A run's chunks in order."""
    return conn.execute(tables.q(CHUNKS, app_schema), {"run_id": run_id}).fetchall()


def unfinished_chunks(conn, tables: Tables, app_schema: str, run_id: int) -> list[int]:
    """The numbers of a run's chunks that are not done, in order."""
    return [r["chunk"] for r in conn.execute(tables.q(UNFINISHED_CHUNKS, app_schema), {"run_id": run_id})]


def take_chunk(conn, tables: Tables, app_schema: str, run_id: int, chunk: int) -> bool:
    """Count an attempt at a chunk; False when it is done already (a retry of a committed chunk)."""
    return conn.execute(tables.q(MARK_RUNNING, app_schema), {"run_id": run_id, "chunk": chunk}).fetchone() is not None


def fail_run(conn, tables: Tables, app_schema: str, run_id: int, error: str) -> None:
    """Mark a run that is still queued or running as failed, with the reason."""
    conn.execute(tables.q(MARK_FAILED, app_schema), {"run_id": run_id, "error": error[:2000]})


def record_chunk_failure(conn, tables: Tables, app_schema: str, job, exc_type, exc_value) -> tuple[bool, str]:
    """RQ's failure callback for a chunk job (`job.args` = run id, chunk), also for jobs found abandoned.

    The error goes on the chunk; when no retry is left the chunk and its run are marked failed,
    which lets a new run start. Returns (final, error).
    """
    run_id, chunk = job.args
    final = not (job.retries_left and job.retries_left > 0)
    error = f"{exc_type.__name__}: {exc_value}" if exc_value is not None and str(exc_value) else exc_type.__name__
    with conn.transaction():
        conn.execute(tables.q(RECORD_ERROR, app_schema),
                     {"run_id": run_id, "chunk": chunk, "error": error[:2000], "final": final})
        if final:
            fail_run(conn, tables, app_schema, run_id, f"chunk {chunk} failed: {error}")
    return final, error
