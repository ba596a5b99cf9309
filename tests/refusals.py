"""What Connect leaves in Postgres when Salesforce refuses writes, written the way Connect writes it.

The table's waiting trigger-log entries end FAILED with Salesforce's message and move to the
archive; their rows get `_hc_lastop = 'FAILED'` and `_hc_err` (xmlbinary 'hex': no new log row).
Tests of the whole journey let the local org refuse instead (its refusal switch: tests/test_write_retries.py).
"""

import json

from psycopg import sql

from standins.connect.writes import as_connect

ARCHIVE_AS_FAILED = """
WITH refused AS (
    DELETE FROM salesforce._trigger_log WHERE table_name = %(table)s AND state = 'NEW'
    RETURNING id, txid, created_at, action, table_name, record_id, sfid, old, "values"
)
INSERT INTO salesforce._trigger_log_archive (id, txid, created_at, updated_at, processed_at, state, action,
                                             table_name, record_id, sfid, old, "values", sf_result, sf_message)
SELECT id, txid, created_at, now(), now(), 'FAILED', action, table_name, record_id, sfid, old, "values", 1,
       %(message)s
FROM refused
RETURNING record_id
"""
MARK_FAILED = "UPDATE {} SET _hc_lastop = 'FAILED', _hc_err = %(err)s WHERE id = ANY(%(ids)s)"


def refuse(conn, table: str, message: str, err: str | None = None) -> list[int]:
    """Refuse every waiting write of `table` as Connect records it; the refused rows' ids."""
    err = err if err is not None else json.dumps({"src": "SFDC", "msg": message})
    with as_connect(conn):
        ids = [r["record_id"] for r in conn.execute(ARCHIVE_AS_FAILED, {"table": table, "message": message})]
        conn.execute(sql.SQL(MARK_FAILED).format(sql.Identifier("salesforce", table)), {"err": err, "ids": ids})
    return ids


def archive_states(conn, table: str) -> list[str]:
    """The states of the table's archived trigger-log rows, oldest first."""
    rows = conn.execute("SELECT state FROM salesforce._trigger_log_archive WHERE table_name = %s ORDER BY id",
                        (table,))
    return [r["state"] for r in rows]


def prune_archive(conn) -> None:
    """Forget every archived entry, as Connect does after 31 days (7 on the demo plan)."""
    conn.execute("DELETE FROM salesforce._trigger_log_archive")
