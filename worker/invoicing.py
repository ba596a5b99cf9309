"""Invoicing jobs: one chunk of a run (a range of accounts), billed exactly once (docs/batch-invoicing.md).

A chunk is ONE transaction: lock the chunk's row, insert ledger rows for the range's unbilled
eligible orders, build the invoices from exactly those rows, mark the chunk done and count it on
the run. Killed anywhere before the commit, nothing of it remains and RQ's retry runs it again;
run twice after a commit, the second sees 'done' and does nothing. Either way: exactly once.
"""

import logging
from datetime import timedelta

from psycopg import errors, sql

from core import chunked_runs, config, db, queue
from core import invoicing as rules

log = logging.getLogger(__name__)


# FOR UPDATE: a second copy of the same chunk (a retry racing a worker presumed dead) waits here,
# then sees 'done' and stops.
LOCK_CHUNK = """
SELECT c.state, c.account_lo, c.account_hi, r.period, r.tax_rate, r.due_days
  FROM {app}.invoice_run_chunks c JOIN {app}.invoice_runs r ON r.id = c.run_id
 WHERE c.run_id = %(run_id)s AND c.chunk = %(chunk)s
   FOR UPDATE OF c
"""

# One statement does the billing, so Postgres plans it as a whole and no order passes through Python.
# - closed: accounts whose invoice for the period Salesforce has closed (Paid/Void): their late
#   orders go to a supplementary invoice, suffixed with this run's id (still deterministic on retry).
# - lines: the ledger rows. The ledger's primary key refuses any order an earlier run billed, or
#   that a concurrent transaction is billing (the insert waits for it), so no order is billed twice.
#   {on_conflict} is empty on the first try: most chunks bill orders none of which is billed yet, and
#   a plain INSERT costs far less than ON CONFLICT's check per row (1.6 s of 9 s at a million
#   orders). If the key refuses a row, bill_chunk tries again with ON CONFLICT DO NOTHING, which
#   skips the billed orders.
# - written: invoices built only from `lines` (what THIS transaction added to the ledger); an
#   existing open invoice is amended by adding to it, which is exact because the addition commits
#   or rolls back together with the ledger rows it adds.
BILL = """
WITH closed AS (
    SELECT i.account__c
      FROM {connect}.invoice__c i
     WHERE i.period__c = %(period)s
       AND i.external_id__c = 'inv-' || i.account__c || '-' || %(period)s
       AND i.status__c IN ('Paid', 'Void')
       AND {invoice_range}
), lines AS (
    INSERT INTO {app}.invoice_lines (order_sfid, invoice_external_id, account_sfid, period, amount, run_id, chunk)
    SELECT o.sfid,
           'inv-' || o.accountid || '-' || %(period)s || CASE WHEN c.account__c IS NULL THEN '' ELSE %(supplement)s END,
           o.accountid, %(period)s, round(o.totalamount::numeric, 2), %(run_id)s, %(chunk)s
      FROM {connect}."order" o
      LEFT JOIN closed c ON c.account__c = o.accountid
     WHERE o.statuscode = %(status_code)s
       AND o.effectivedate >= %(period_start)s AND o.effectivedate < %(period_end)s
       AND NOT o.isdeleted
       AND {order_range}
    {on_conflict}
    RETURNING invoice_external_id, account_sfid, amount
), per_invoice AS (
    SELECT invoice_external_id, account_sfid, sum(amount) AS amount, count(*) AS orders,
           invoice_external_id <> 'inv-' || account_sfid || '-' || %(period)s AS supplementary
      FROM lines
     GROUP BY invoice_external_id, account_sfid
), written AS (
    INSERT INTO {connect}.invoice__c
        (name, account__c, period__c, amount__c, tax__c, order_count__c, status__c, due_date__c, external_id__c)
    SELECT 'INV-' || %(period)s || '-' || coalesce(a.accountnumber, p.account_sfid)
               || CASE WHEN p.supplementary THEN '-S' || %(run_id)s ELSE '' END,
           p.account_sfid, %(period)s, p.amount, round(p.amount * %(tax_rate)s, 2), p.orders, %(status)s,
           %(due_date)s, p.invoice_external_id
      FROM per_invoice p
      LEFT JOIN {connect}.account a ON a.sfid = p.account_sfid AND {account_range}
    ON CONFLICT (external_id__c) DO UPDATE
       SET amount__c = round(invoice__c.amount__c::numeric + excluded.amount__c::numeric, 2),
           tax__c = round(round(invoice__c.amount__c::numeric + excluded.amount__c::numeric, 2) * %(tax_rate)s, 2),
           order_count__c = invoice__c.order_count__c + excluded.order_count__c
    RETURNING (xmax = 0) AS created
)
SELECT (SELECT count(*) FROM lines) AS orders,
       (SELECT coalesce(sum(amount), 0) FROM lines) AS amount,
       count(*) FILTER (WHERE created) AS created,
       count(*) FILTER (WHERE NOT created) AS amended
  FROM written
"""

MARK_DONE = """
UPDATE {app}.invoice_run_chunks
   SET state = 'done', finished_at = now(), orders = %(orders)s, amount = %(amount)s,
       invoices_created = %(created)s, invoices_amended = %(amended)s
 WHERE run_id = %(run_id)s AND chunk = %(chunk)s
"""

# The run row is updated last, so its lock is held only for the commit. chunks_done + 1 under that
# row lock makes "the last chunk finishes the run" race-free with any number of workers.
COUNT_ON_RUN = """
UPDATE {app}.invoice_runs
   SET chunks_done = chunks_done + 1,
       orders_invoiced = orders_invoiced + %(orders)s,
       amount_total = amount_total + %(amount)s,
       invoices_created = invoices_created + %(created)s,
       invoices_amended = invoices_amended + %(amended)s,
       state = CASE WHEN chunks_done + 1 >= chunks_total AND state IN ('queued', 'running') THEN 'finished'
                    ELSE state END,
       finished_at = CASE WHEN chunks_done + 1 >= chunks_total THEN now() ELSE finished_at END
 WHERE id = %(run_id)s
RETURNING chunks_done, chunks_total, state
"""


def _q(text: str, cfg, **parts) -> sql.Composed:
    return sql.SQL(text).format(app=sql.Identifier(cfg.app_schema), connect=sql.Identifier(cfg.connect_schema),
                                **parts)


def account_range(column: str, lo: str | None, hi: str | None) -> sql.Composable:
    """`column >= lo AND column < hi`, leaving out an open end (NULL bound)."""
    parts = []
    if lo is not None:
        parts.append(sql.SQL("{} >= {}").format(sql.SQL(column), sql.Literal(lo)))
    if hi is not None:
        parts.append(sql.SQL("{} < {}").format(sql.SQL(column), sql.Literal(hi)))
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def bill_chunk(conn, cfg, run_id: int, chunk: int) -> dict | None:
    """Bill one chunk in one transaction; return its counts, or None when it was already done."""
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '64MB'")
        row = conn.execute(_q(LOCK_CHUNK, cfg), {"run_id": run_id, "chunk": chunk}).fetchone()
        if row is None or row["state"] == "done":
            return None
        start, end = rules.period_bounds(row["period"])
        lo, hi = row["account_lo"], row["account_hi"]
        params = {
            "period": row["period"], "period_start": start, "period_end": end, "run_id": run_id, "chunk": chunk,
            "status_code": rules.ORDER_STATUS_CODE, "status": rules.INVOICE_STATUS, "tax_rate": row["tax_rate"],
            "due_date": end - timedelta(days=1) + timedelta(days=row["due_days"]), "supplement": f"-r{run_id}",
        }

        def bill(on_conflict: str) -> dict:
            query = _q(BILL, cfg, on_conflict=sql.SQL(on_conflict),
                       invoice_range=account_range("i.account__c", lo, hi),
                       order_range=account_range("o.accountid", lo, hi),
                       account_range=account_range("a.sfid", lo, hi))
            return conn.execute(query, params).fetchone()

        try:
            with conn.transaction():  # a savepoint: the fast try, for a range none of whose orders is billed
                counts = bill("")
        except errors.UniqueViolation:
            # Some orders of the range are in the ledger already (a late run for the period, or a run
            # after a failed one): the savepoint undid the try; bill again, skipping them.
            counts = bill("ON CONFLICT (order_sfid) DO NOTHING")
        done = {"run_id": run_id, "chunk": chunk, **counts}
        conn.execute(_q(MARK_DONE, cfg), done)
        run = conn.execute(_q(COUNT_ON_RUN, cfg), done).fetchone()
    return {**counts, "run_state": run["state"], "chunks_done": run["chunks_done"], "chunks_total": run["chunks_total"]}


def run_chunk(run_id: int, chunk: int) -> dict:
    """RQ job: bill chunk `chunk` of run `run_id` (idempotent; exceptions propagate so RQ retries)."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        if not chunked_runs.take_chunk(conn, rules.TABLES, cfg.app_schema, run_id, chunk):
            return {"skipped": "already done"}
        result = bill_chunk(conn, cfg, run_id, chunk)
    if result is None:
        return {"skipped": "already done"}
    log.info("invoice run %s chunk %s: %s orders, %s invoices created, %s amended (%s/%s chunks)", run_id, chunk,
             result["orders"], result["created"], result["amended"], result["chunks_done"], result["chunks_total"])
    return {k: str(v) if k == "amount" else v for k, v in result.items()}


def chunk_failed(job, connection, exc_type, exc_value, traceback):
    """RQ failure callback (also for jobs found abandoned after a SIGKILL): record the error on the chunk.

    When no retry is left the chunk is marked failed and so is its run, which frees the period for
    a new run; the ledger makes that new run bill only what is still unbilled.
    """
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        final, error = chunked_runs.record_chunk_failure(conn, rules.TABLES, cfg.app_schema, job, exc_type,
                                                         exc_value)
    run_id, chunk = job.args
    log.warning("invoice run %s chunk %s failed (%s): %s", run_id, chunk, "final" if final else "will retry", error)


def scheduled_run(period: str = "previous", force: bool = False) -> dict:
    """RQ job for local schedules (`manage.py invoices schedule`): start a run as the CLI would."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        run_id, est = rules.start_run(conn, queue.connect(cfg.redis_url), period, cfg, force=force,
                                      started_by="schedule")
    return {"run_id": run_id, "orders": est.orders, "invoices": est.invoices}
