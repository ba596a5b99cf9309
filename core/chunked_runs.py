"""What every chunked batch run shares: a run row, its chunk rows, and the progress read from them.

Invoicing (`invoice_runs` / `invoice_run_chunks`) and churn scoring (`scoring_runs` /
`scoring_run_chunks`) keep their runs the same way: one row per run with `state`, `chunks_done`,
`chunks_total`, `started_at`, `finished_at`, and one row per chunk with `state`, `attempts` and
`error`. This module reads them; each pattern adds its own figures (core/invoicing.py,
core/scoring/runs.py).
"""

from dataclasses import dataclass

from psycopg import sql

RUN = "SELECT * FROM {app}.{runs} WHERE id = %(run_id)s"
RECENT_RUNS = "SELECT * FROM {app}.{runs} ORDER BY id DESC LIMIT %(limit)s"
CHUNKS = "SELECT * FROM {app}.{chunks} WHERE run_id = %(run_id)s ORDER BY chunk"
CHUNK_TOTALS = """
SELECT count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE attempts > 1 OR error IS NOT NULL) AS retried,
       max(error) FILTER (WHERE error IS NOT NULL) AS last_error
  FROM {app}.{chunks} WHERE run_id = %(run_id)s
"""
FINAL_STATES = ("finished", "failed")


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
