"""Connect's trigger log and its archive: every statement the app runs against them.

`_trigger_log` is Connect's outbox (one row per change the app made); processed rows move to
`_trigger_log_archive`, kept 31 days (7 on the demo plan). The app reads both, and changes one
thing only, the way Connect documents a retry: it sets an archived FAILED row to REQUEUE, and
Connect copies it back into the live log as NEW (marking the archived row REQUEUED). It never
edits the live log. States come from core.connect, composed in as literals or passed as parameters.
"""

from psycopg import sql

from core import connect

WAITING_STATES = (connect.LOG_NEW, connect.LOG_PENDING)

# Served by Connect's partial index on (state, table_name) for the waiting states, NEW and PENDING.
BACKLOG = """
SELECT table_name, count(*) AS backlog, min(created_at) AS oldest
FROM {s}._trigger_log WHERE state = ANY(%(waiting)s) GROUP BY table_name
"""
WAITING = "SELECT count(*) AS n FROM {s}._trigger_log WHERE state = ANY(%(waiting)s)"
LAST_WRITE = """
SELECT processed_at FROM {s}._trigger_log_archive
WHERE table_name = %(table)s AND state = %(success)s ORDER BY created_at DESC LIMIT 1
"""
# What `heroku connect:write-errors` lists: the last 24 hours' refused writes, live and archived.
FAILED_ENTRIES = """
SELECT 'archive' AS source, id, table_name, record_id, sfid, action, sf_message, processed_at, created_at
FROM {s}._trigger_log_archive WHERE state = %(failed)s AND created_at > now() - interval '24 hours'
UNION ALL
SELECT 'live', id, table_name, record_id, sfid, action, sf_message, processed_at, created_at
FROM {s}._trigger_log WHERE state = %(failed)s
ORDER BY created_at DESC LIMIT %(limit)s
"""
# One entry of a record, live or archived, to say why it has not reached Salesforce; ORDER BY state
# puts the most telling first (FAILED, then NEW, then READONLY).
RECORD_ENTRY = """
SELECT state, sf_message FROM {s}._trigger_log WHERE table_name = %(table)s AND record_id = %(record_id)s
UNION ALL
SELECT state, sf_message FROM {s}._trigger_log_archive WHERE table_name = %(table)s AND record_id = %(record_id)s
ORDER BY state LIMIT 1
"""
# The operators' retry: archived failed writes chosen by id.
REQUEUE_ENTRIES = """
UPDATE {s}._trigger_log_archive SET state = %(requeue)s, updated_at = now()
WHERE state = %(failed)s AND id = ANY(%(ids)s) RETURNING id
"""
# A record's retry, scoped in the statement itself: the record row must match {match} (the
# caller's own record) and be FAILED; its archived FAILED entries newer than its last SUCCESS are
# requeued, all of them, so Connect sends them again in id order (an older failure was overtaken
# by a later change that reached Salesforce, and is not sent again).
REQUEUE_RECORD = """
UPDATE {s}._trigger_log_archive a SET state = {requeue}, updated_at = now()
FROM {table} {row}
WHERE {match} AND {row}._hc_lastop = {failed_op}
  AND a.table_name = {table_name} AND a.record_id = {row}.id AND a.state = {failed}
  AND a.id > coalesce((SELECT max(ok.id) FROM {s}._trigger_log_archive ok
                       WHERE ok.table_name = {table_name} AND ok.record_id = {row}.id AND ok.state = {success}), 0)
RETURNING a.id
"""
# A refused row whose retry is on its way: an archived entry marked REQUEUE that Connect has not
# copied back yet, or a change of the row waiting in the live log (copied back, or re-logged).
# The row itself says FAILED until Connect has sent the change: only Connect writes _hc_lastop.
RETRYING = """({row}._hc_lastop = {failed_op} AND (
    EXISTS (SELECT 1 FROM {s}._trigger_log_archive q
            WHERE q.record_id = {row}.id AND q.table_name = {table_name} AND q.state = {requeue})
    OR EXISTS (SELECT 1 FROM {s}._trigger_log w
               WHERE w.record_id = {row}.id AND w.table_name = {table_name} AND w.state IN ({new}, {pending}))))"""

# Connect's own function for re-logging a row by hand (real Connect schemas have it; peer libraries
# call it to retry under Ordered Writes): one NEW UPDATE entry carrying the columns named.
HAS_CAPTURE_UPDATE = """
SELECT to_regprocedure(format('%%I.hc_capture_update_from_row(hstore, varchar, text[])', %(schema)s::text))
       IS NOT NULL AS ok
"""
CAPTURE_UPDATE = """
SELECT {s}.hc_capture_update_from_row(hstore({row}.*), %(table)s, %(columns)s::text[]) AS entry
FROM {table} {row} WHERE {row}.id = %(record_id)s
"""

def _compose(text: str, schema: str, **parts) -> sql.Composed:
    return sql.SQL(text).format(s=sql.Identifier(schema), **parts)


def backlog(conn, schema: str) -> dict[str, dict]:
    """Changes waiting to be sent, per table: how many and the oldest's created_at."""
    rows = conn.execute(_compose(BACKLOG, schema), {"waiting": list(WAITING_STATES)})
    return {r["table_name"]: r for r in rows}


def waiting(conn, schema: str) -> int:
    """How many changes wait in the trigger log for Connect to send them."""
    return conn.execute(_compose(WAITING, schema), {"waiting": list(WAITING_STATES)}).fetchone()["n"]


def last_write(conn, schema: str, table: str):
    """When Connect last sent one of the table's changes to Salesforce successfully (None if never)."""
    row = conn.execute(_compose(LAST_WRITE, schema), {"table": table, "success": connect.LOG_SUCCESS}).fetchone()
    return row["processed_at"] if row else None


def failed_entries(conn, schema: str, limit: int = 50) -> list[dict]:
    """FAILED trigger-log rows of the last 24 hours (live and archived), newest first."""
    params = {"failed": connect.LOG_FAILED, "limit": limit}
    return conn.execute(_compose(FAILED_ENTRIES, schema), params).fetchall()


def record_entry(conn, schema: str, table: str, record_id: int) -> dict | None:
    """A log entry (state, sf_message) of one record, live or archived; None if it has none."""
    return conn.execute(_compose(RECORD_ENTRY, schema), {"table": table, "record_id": record_id}).fetchone()


def requeue_entries(conn, schema: str, archive_ids: list[int]) -> int:
    """Ask Connect to retry archived failed writes by id; return how many were marked REQUEUE."""
    params = {"requeue": connect.LOG_REQUEUE, "failed": connect.LOG_FAILED, "ids": archive_ids}
    return len(conn.execute(_compose(REQUEUE_ENTRIES, schema), params).fetchall())


def _states(schema: str, table: str, row: str) -> dict:
    """The parts RETRYING and REQUEUE_RECORD are composed from."""
    return {
        "s": sql.Identifier(schema),
        "table": sql.Identifier(schema, table),
        "row": sql.Identifier(row),
        "table_name": sql.Literal(table),
        "failed_op": sql.Literal(connect.FAILED),
        "failed": sql.Literal(connect.LOG_FAILED),
        "success": sql.Literal(connect.LOG_SUCCESS),
        "requeue": sql.Literal(connect.LOG_REQUEUE),
        "new": sql.Literal(connect.LOG_NEW),
        "pending": sql.Literal(connect.LOG_PENDING),
    }


def requeue_record(conn, schema: str, table: str, row: str, match: str, params: dict) -> list[int]:
    """Requeue the latest failed writes of the one record `match` finds (SQL on alias `row`); their ids."""
    query = sql.SQL(REQUEUE_RECORD).format(match=sql.SQL(match), **_states(schema, table, row))
    return sorted(r["id"] for r in conn.execute(query, params).fetchall())


def retrying(schema: str, table: str, row: str) -> sql.Composed:
    """A boolean SQL expression: the row (alias `row`) is FAILED and a retry of it is on its way."""
    return sql.SQL(RETRYING).format(**_states(schema, table, row))


def can_capture_update(conn, schema: str) -> bool:
    """Whether the Connect schema has Connect's hc_capture_update_from_row."""
    return conn.execute(HAS_CAPTURE_UPDATE, {"schema": schema}).fetchone()["ok"]


def capture_update(conn, schema: str, table: str, record_id: int, columns) -> int | None:
    """Re-log one row's `columns` as a change for Connect to send, with Connect's own function; the entry's id."""
    query = _compose(CAPTURE_UPDATE, schema, table=sql.Identifier(schema, table), row=sql.Identifier("r"))
    return conn.execute(query, {"table": table, "record_id": record_id, "columns": list(columns)}).fetchone()["entry"]
