"""Batch invoicing: the billing rules, planning a run, and reading its progress (docs/batch-invoicing.md).

Shared by every process that starts or watches a run: the CLI (Heroku Scheduler), the ops page
and the RQ schedule. The chunks themselves run in the worker (`worker/invoicing.py`), enqueued
here by dotted path so the web process never imports job code.

The rules in one paragraph: a billing period is a calendar month 'YYYY-MM'. Every order whose
StatusCode is 'Activated' (Status Activated, Shipped or Delivered), whose EffectiveDate falls in
the period and that is not yet in the ledger is billed. Each account gets one Invoice__c per
period; orders that sync after the run amend that invoice while it is open ('Issued'), or go into
a supplementary invoice when Salesforce has closed it (Paid or Void).
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from psycopg import errors, sql
from rq import Callback, Retry
from rq.exceptions import DuplicateJobError

from core import chunked_runs, config, durations, sync_cost
from core import queue as queues

CHUNK_JOB = "worker.invoicing.run_chunk"
CHUNK_FAILED_CALLBACK = "worker.invoicing.chunk_failed"
SCHEDULED_RUN_JOB = "worker.invoicing.scheduled_run"
# A chunk interrupted by a deploy (SIGTERM), a crash (SIGKILL) or a lost connection is retried;
# the waits give a restarting database or dyno time to come back. The retry goes to the front of
# the queue: behind the run's other chunks it would wait for all of them (measured with
# bench/chaos.py: 20-40 s more at a million orders).
CHUNK_RETRY = {"max": 5, "interval": [5, 15, 60], "enqueue_at_front": True}
# Far above a chunk's real duration (well under a second at 20,000 orders); only a stuck chunk hits it.
CHUNK_TIMEOUT = 600

ORDER_STATUS_CODE = "Activated"  # Status Activated, Shipped and Delivered all carry StatusCode 'Activated'
INVOICE_STATUS = "Issued"
CLOSED_INVOICE_STATUSES = ("Paid", "Void")  # set in Salesforce; such an invoice is never amended
# What amending an open invoice changes (worker/invoicing.py: BILL); a retry re-logs these.
AMENDED_COLUMNS = ("amount__c", "tax__c", "order_count__c")

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvoicingError(Exception):
    """A run cannot start; the message says why and what to do."""


class BadPeriod(InvoicingError):
    """The period is malformed or in the future."""


class RunAlreadyActive(InvoicingError):
    """Another run for the same period is queued or running."""

    def __init__(self, run_id: int, period: str):
        super().__init__(
            f"Run #{run_id} for {period} is already running; watch it at /ops/invoicing/runs/{run_id} "
            f"or with `python manage.py invoices status {run_id}`. A new run can start once it has finished."
        )
        self.run_id = run_id


class OverSyncLimits(InvoicingError):
    """The run would take the sync over the plan's row cap or the org's remaining bulk batches."""


def previous_period(today: date | None = None) -> str:
    """The calendar month before `today` (UTC), as 'YYYY-MM'."""
    today = today or datetime.now(UTC).date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def parse_period(value: str, today: date | None = None) -> str:
    """Check a period ('YYYY-MM' or 'previous'); raise BadPeriod for malformed or future months."""
    today = today or datetime.now(UTC).date()
    value = (value or "").strip()
    if value == "previous":
        return previous_period(today)
    match = _PERIOD.match(value)
    if not match:
        raise BadPeriod(f"Period must look like 2026-10 (a calendar month, YYYY-MM) or 'previous'; got {value!r}.")
    if (int(match[1]), int(match[2])) > (today.year, today.month):
        raise BadPeriod(f"Period {value} is in the future: nothing can be billed for it yet.")
    return value


@dataclass(frozen=True)
class Estimate:
    """What a run for a period would do, measured before it starts."""

    period: str
    orders: int
    invoices: int
    amount: Decimal | None  # None when measured for a run (the chunks compute the real totals)
    cost: sync_cost.Cost  # what sending the invoices costs the sync (core/sync_cost.py)
    boundaries: list  # first account sfid of each chunk after the first

    @property
    def refusals(self) -> list[str]:
        """The limits this run would break; empty when it fits."""
        return self.cost.refusals()


# Unbilled eligible orders per account, then each account's bucket by cumulative order count,
# so chunks carry about the same number of orders even when one account is much bigger.
# An account's orders count as one invoice write: a new invoice, an amended one, or a supplement.
# {amount} is the exact sum for previews; a run leaves it out (NULL): the chunks compute the real
# totals, and summing a million numerics is half of this query's time.
ESTIMATE = """
WITH per_account AS (
    SELECT o.accountid, count(*) AS orders, {amount} AS amount
      FROM {connect}."order" o
     WHERE o.statuscode = %(status_code)s
       AND o.effectivedate >= %(period_start)s AND o.effectivedate < %(period_end)s
       AND NOT o.isdeleted
       AND NOT EXISTS (SELECT 1 FROM {app}.invoice_lines l WHERE l.order_sfid = o.sfid)
     GROUP BY o.accountid
), bucketed AS (
    SELECT accountid, orders, amount,
           floor((sum(orders) OVER (ORDER BY accountid) - orders) * %(chunks)s / sum(orders) OVER ())::int AS bucket
      FROM per_account
)
SELECT bucket, min(accountid) AS first_account, count(*) AS invoices, sum(orders) AS orders, sum(amount) AS amount
  FROM bucketed GROUP BY bucket ORDER BY bucket
"""


def period_bounds(period: str) -> tuple[date, date]:
    """First day of the period and first day of the next one."""
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)


AMOUNT = "sum(round(o.totalamount::numeric, 2))"


def estimate(conn, period: str, cfg: config.Config, *, amount: bool = True) -> Estimate:
    """Measure what a run for `period` would bill and what it would cost the sync (amount None if not asked)."""
    start, end = period_bounds(period)
    query = sql.SQL(ESTIMATE).format(connect=sql.Identifier(cfg.connect_schema), app=sql.Identifier(cfg.app_schema),
                                     amount=sql.SQL(AMOUNT if amount else "NULL::numeric"))
    with conn.transaction():
        # Heroku Postgres keeps its data on SSDs; PostgreSQL's default random_page_cost (4) assumes
        # spinning disks and makes the planner prefer hashing a parallel scan of the whole order table
        # (0.48 s at a million orders) to reading the covering index app_idx_order_billable in account
        # order (0.25 s). Set for this statement only: Connect's own queries keep the server's setting.
        conn.execute("SET LOCAL random_page_cost = 1.1")
        rows = conn.execute(
            query,
            {"status_code": ORDER_STATUS_CODE, "period_start": start, "period_end": end,
             "chunks": cfg.invoicing.chunks},
        ).fetchall()
    invoices = sum(r["invoices"] for r in rows)
    return Estimate(
        period=period,
        orders=sum(r["orders"] for r in rows),
        invoices=invoices,
        amount=sum((r["amount"] for r in rows), Decimal(0)) if amount else None,
        # Each invoice is one write: a new row, an amended one (no new row) or a supplementary one,
        # so the invoices are an upper bound of the rows the run adds.
        cost=sync_cost.measure(conn, cfg, rows_added=invoices, writes_added=invoices),
        boundaries=[r["first_account"] for r in rows[1:]],
    )


INSERT_RUN = """
INSERT INTO {app}.invoice_runs
    (period, state, chunks_total, orders_estimate, synced_rows_before, rows_added_estimate, row_cap,
     soap_calls_estimate, bulk_batches_estimate, bulk_batches_remaining, drain_seconds_estimate,
     tax_rate, due_days, forced, started_by)
VALUES (%(period)s, 'queued', %(chunks_total)s, %(orders)s, %(synced_rows)s, %(rows_added)s, %(row_cap)s,
        %(soap_calls)s, %(bulk_batches)s, %(bulk_remaining)s, %(drain_seconds)s,
        %(tax_rate)s, %(due_days)s, %(forced)s, %(started_by)s)
RETURNING id
"""
INSERT_CHUNK = """
INSERT INTO {app}.invoice_run_chunks (run_id, chunk, account_lo, account_hi)
VALUES (%(run_id)s, %(chunk)s, %(lo)s, %(hi)s)
"""
ACTIVE_RUN = "SELECT id FROM {app}.invoice_runs WHERE period = %(period)s AND state IN ('queued', 'running')"
MARK_ENQUEUED = """
UPDATE {app}.invoice_runs
   SET state = CASE WHEN chunks_total = 0 THEN 'finished' ELSE 'running' END,
       finished_at = CASE WHEN chunks_total = 0 THEN now() END
 WHERE id = %(run_id)s AND state = 'queued'
"""


def _q(text: str, cfg) -> sql.Composed:
    return sql.SQL(text).format(app=sql.Identifier(cfg.app_schema), connect=sql.Identifier(cfg.connect_schema))


def start_run(conn, redis_conn, period: str, cfg: config.Config, *, force: bool = False,
              started_by: str = "cli") -> tuple[int, Estimate]:
    """Plan a run for `period`, record it and its chunks, enqueue the chunks; return (run id, estimate).

    Raises BadPeriod, OverSyncLimits (unless force) or RunAlreadyActive; in each case nothing is written.
    A redis.RedisError when Redis does not answer: nothing is written either.
    """
    opts = cfg.invoicing
    period = parse_period(period)
    active = conn.execute(_q(ACTIVE_RUN, cfg), {"period": period}).fetchone()
    if active:
        raise RunAlreadyActive(active["id"], period)
    est = estimate(conn, period, cfg, amount=False)
    if est.refusals and not force:
        raise OverSyncLimits(
            f"This run writes {est.invoices:,} invoices: " + " ".join(est.refusals)
            + " Start it with --force (or tick 'force') if the plan or the allowance is larger than this says."
        )
    edges = [None, *est.boundaries, None] if est.orders else []
    # Redis must answer before anything is written: a run recorded with none of its chunks queued
    # would be half-started. (A RedisError here leaves no row; one mid-enqueue marks the run failed.)
    redis_conn.ping()
    try:
        with conn.transaction():
            run_id = conn.execute(
                _q(INSERT_RUN, cfg),
                {"period": period, "chunks_total": max(len(edges) - 1, 0), "orders": est.orders,
                 **_cost_columns(est.cost), "tax_rate": opts.tax_rate, "due_days": opts.due_days,
                 "forced": force, "started_by": started_by},
            ).fetchone()["id"]
            with conn.cursor() as cur:
                cur.executemany(
                    _q(INSERT_CHUNK, cfg),
                    [{"run_id": run_id, "chunk": i, "lo": edges[i], "hi": edges[i + 1]} for i in range(len(edges) - 1)],
                )
    except errors.UniqueViolation:
        # Lost the race with a run started at the same moment: the partial unique index decided.
        active = conn.execute(_q(ACTIVE_RUN, cfg), {"period": period}).fetchone()
        raise RunAlreadyActive(active["id"] if active else 0, period) from None
    # Enqueue only after the commit, so a worker never picks up a chunk it cannot see yet.
    try:
        enqueue_chunks(queues.queue(redis_conn), run_id, range(len(edges) - 1))
    except Exception as exc:
        chunked_runs.fail_run(conn, TABLES, cfg.app_schema, run_id, f"could not enqueue chunks: {exc}")
        raise
    conn.execute(_q(MARK_ENQUEUED, cfg), {"run_id": run_id})
    return run_id, est


def _cost_columns(cost: sync_cost.Cost) -> dict:
    """The run's sync figures as invoice_runs stores them."""
    return {"synced_rows": cost.synced_rows, "rows_added": cost.rows_added, "row_cap": cost.row_cap,
            "soap_calls": cost.soap_calls, "bulk_batches": cost.bulk_batches,
            "bulk_remaining": cost.bulk.remaining if cost.bulk else None, "drain_seconds": cost.drain_seconds}


def chunk_job_id(run_id: int, chunk: int) -> str:
    """The RQ job id of a chunk: deterministic, so enqueuing it again never makes a second job."""
    return f"invoice-run-{run_id}-chunk-{chunk}"


def enqueue_chunks(q, run_id: int, chunks) -> int:
    """Enqueue the given chunks of a run (skipping any whose job already exists); return how many were added."""
    added = 0
    for chunk in chunks:
        try:
            q.enqueue(
                CHUNK_JOB,
                run_id,
                chunk,
                job_id=chunk_job_id(run_id, chunk),
                unique=True,
                retry=Retry(**CHUNK_RETRY),
                job_timeout=CHUNK_TIMEOUT,
                on_failure=Callback(CHUNK_FAILED_CALLBACK),
                description=f"invoice run {run_id} chunk {chunk}",
            )
            added += 1
        except DuplicateJobError:
            continue
    return added


# The chunks still to bill of every run in progress: after Redis lost its data (a restart without
# persistence, a failover, a flush), these are the jobs that may be gone.
UNFINISHED_CHUNKS = """
SELECT c.run_id, c.chunk
  FROM {app}.invoice_run_chunks c JOIN {app}.invoice_runs r ON r.id = c.run_id
 WHERE r.state = 'running' AND c.state <> 'done'
 ORDER BY c.run_id, c.chunk
"""


def requeue_unfinished(conn, redis_conn, cfg) -> dict[int, int]:
    """Enqueue again every unfinished chunk of every running run whose job Redis no longer has.

    What `invoices resume` does for one run, for all of them: the run's state is in Postgres, so
    Redis losing its queues loses no work. A chunk whose job still exists (queued, running, or
    waiting for its retry) is left alone; one re-enqueued while a work-horse is still billing it
    waits for that transaction, then finds it done. Returns {run id: chunks enqueued again}.
    """
    pending: dict[int, list[int]] = {}
    for row in conn.execute(_q(UNFINISHED_CHUNKS, cfg)).fetchall():
        pending.setdefault(row["run_id"], []).append(row["chunk"])
    q = queues.queue(redis_conn)
    added = {run_id: enqueue_chunks(q, run_id, chunks) for run_id, chunks in pending.items()}
    return {run_id: n for run_id, n in added.items() if n}


TABLES = chunked_runs.Tables("invoice_runs", "invoice_run_chunks")


def progress(conn, run_id: int, cfg) -> dict | None:
    """A run's progress and results as JSON-friendly values (None if there is no such run)."""
    found = chunked_runs.run_progress(conn, TABLES, cfg.app_schema, run_id)
    if found is None:
        return None
    run, common = found
    elapsed = common["elapsed_seconds"]
    return {
        **common,
        "period": run["period"],
        "orders_invoiced": run["orders_invoiced"],
        "orders_estimate": run["orders_estimate"],
        "invoices_created": run["invoices_created"],
        "invoices_amended": run["invoices_amended"],
        "amount_total": str(run["amount_total"]),
        "synced_rows_before": run["synced_rows_before"],
        "rows_added_estimate": run["rows_added_estimate"],
        "row_cap": run["row_cap"],
        "soap_calls_estimate": run["soap_calls_estimate"],
        "bulk_batches_estimate": run["bulk_batches_estimate"],
        "bulk_batches_remaining": run["bulk_batches_remaining"],
        "drain_seconds_estimate": run["drain_seconds_estimate"],
        "forced": run["forced"],
        "orders_per_second": round(run["orders_invoiced"] / elapsed, 1) if elapsed > 0 else 0.0,
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
        f"run #{p['id']} for {p['period']}: {p['state']} in {durations.human(p['elapsed_seconds'])}",
        f"  orders invoiced   {p['orders_invoiced']:,}  ({p['orders_per_second']:,.0f}/s)",
        f"  invoices created  {p['invoices_created']:,}",
        f"  invoices amended  {p['invoices_amended']:,}",
        f"  amount            {Decimal(p['amount_total']):,.2f} (before tax)",
        f"  chunks            {p['chunks_done']}/{p['chunks_total']} done, {p['chunks_failed']} failed, "
        f"{p['chunks_retried']} retried",
        f"  Connect's sends   about {p['soap_calls_estimate']:,} SOAP calls, "
        f"{p['bulk_batches_estimate']:,} bulk batches, ~{durations.human(p['drain_seconds_estimate'] or 0)}",
    ]
    if p["error"]:
        lines.append(f"  error             {p['error']}")
    return "\n".join(lines)
