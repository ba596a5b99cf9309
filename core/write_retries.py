"""Sending a write Salesforce refused once more, the way Connect documents it: portal, API and console alike.

First choice, Connect's own retry: the record's failed entries in `_trigger_log_archive` are set
to REQUEUE (core/trigger_log.py: REQUEUE_RECORD), and Connect copies them back into the live log
and sends them with the values they had. The archive keeps 31 days (7 on the demo plan); when it
no longer has them, the app saves the row again with an ordinary app write, which Connect's
triggers log as a new change:
- a row that never reached Salesforce (no sfid) is deleted and inserted again with the same
  values, id and external id: the DELETE is logged IGNORE (nothing to delete in Salesforce), the
  INSERT as a NEW change carrying every value;
- a row Salesforce has (an update was refused) is re-logged by Connect's own function
  `hc_capture_update_from_row`, where the Connect schema has it. Writing the same values again
  is no retry: an UPDATE that changes nothing is logged IGNORE and would leave the row PENDING
  forever. Without that function the user is asked to change the details and save them again.
The app never writes as Connect (`xmlbinary`), never edits the live trigger log, never sets
`_hc_lastop`: the row says FAILED until Connect has sent the retry (core/connect.py: row_status).
"""

import enum
from dataclasses import dataclass

from psycopg import sql

from core import account_invoices, cases, connect, contacts, invoicing, trigger_log


class Outcome(enum.Enum):
    """What became of a retry."""

    RETRIED = "retried"  # sent again: see Result.how
    NOT_FOUND = "not found"  # no such record (for a customer: none of theirs)
    NOT_FAILED = "not failed"  # not refused, or its retry is already on its way
    SAVE_AGAIN = "save again"  # nothing left to send again: the details must be changed and saved


class How(enum.Enum):
    """How a retried write was sent again."""

    REQUEUED = "requeued"  # Connect's retry: the archived failed entries were set to REQUEUE
    RESAVED = "re-saved"  # no archived entry left: the app wrote the row again


MESSAGES = {
    Outcome.NOT_FAILED: "Only a change that could not be saved can be sent again, and this one is not waiting "
                        "for that (it was saved, or it is already on its way again).",
    Outcome.SAVE_AGAIN: "This change is too old to be sent again as it was: change the details and save them "
                        "again, and the new change goes to Salesforce.",
}


@dataclass(frozen=True)
class Target:
    """One record whose refused write to send again: the row of `object_name` that SQL `match` finds."""

    object_name: str
    alias: str  # the table's alias in `match`
    match: str
    params: dict
    missing: str  # what a 404 says


@dataclass(frozen=True)
class Result:
    """A retry's outcome; for RETRIED, how, and which archive entries were requeued."""

    outcome: Outcome
    how: How | None = None
    entries: tuple[int, ...] = ()
    message: str = ""


def contact(customer) -> Target:
    """The customer's own Contact."""
    return Target("Contact", "c", contacts.MATCH, contacts.match_params(customer),
                  "Your contact record is not available.")


def case(account: str, key: str) -> Target:
    """One of the account's cases, by Salesforce Id or external id."""
    return Target("Case", "c", cases.MATCH, {"account": account, "key": key}, "No such case in your account.")


def invoice(account: str, key: str) -> Target:
    """One of the account's invoices, by Salesforce Id or external id."""
    return Target("Invoice__c", "i", account_invoices.MATCH, {"account": account, "key": key},
                  "No such invoice in your account.")


def row(table: str, row_id: int) -> Target:
    """Any row of a read-write mapped table, by its Postgres id (operators: not scoped to an account)."""
    mapping = next((m for m in connect.mappings().values() if m.table == table), None)
    return Target(mapping.object_name if mapping else table, "r", "r.id = %(row_id)s", {"row_id": row_id},
                  f"No row {row_id} in a read-write mapped table {table!r}.")


# The columns a re-log carries, per object: what the app itself changes on an update.
UPDATED_COLUMNS = {"Contact": contacts.COLUMNS, "Case": cases.COLUMNS, "Invoice__c": invoicing.AMENDED_COLUMNS}

# Locked first, so a second retry of the same record waits here, then sees the first one's requeue.
LOCK = "SELECT {row}.id, {row}.sfid, {row}._hc_lastop FROM {table} {row} WHERE {match} LIMIT 1 FOR UPDATE OF {row}"
RETRYING = "SELECT {retrying} AS retrying FROM {table} {row} WHERE {row}.id = %(record_id)s"
# The same row again, as a new app insert (id, external id and values kept; the triggers set
# PENDING and log it). Only for a row Salesforce never had: deleting a synced row would delete the record.
REINSERT = """
WITH refused AS (
    DELETE FROM {table} {row} WHERE {row}.id = %(record_id)s AND {row}.sfid IS NULL RETURNING {row}.*
)
INSERT INTO {table} SELECT * FROM refused
"""


def retry(conn, schema: str, target: Target) -> Result:
    """Send the target's refused write again: requeue its archived entries, else save the row again."""
    mapping = connect.mappings().get(target.object_name)
    if mapping is None or not mapping.read_write:
        return Result(Outcome.NOT_FOUND, message=target.missing)
    parts = {"table": sql.Identifier(schema, mapping.table),
             "row": sql.Identifier(target.alias), "match": sql.SQL(target.match),
             "retrying": trigger_log.retrying(schema, mapping.table, target.alias)}

    def run(text: str, params: dict):
        return conn.execute(sql.SQL(text).format(**parts), params)

    with conn.transaction():
        record = run(LOCK, target.params).fetchone()
        if record is None:
            return Result(Outcome.NOT_FOUND, message=target.missing)
        by_id = {"record_id": record["id"]}
        if record["_hc_lastop"] != connect.FAILED or run(RETRYING, by_id).fetchone()["retrying"]:
            return Result(Outcome.NOT_FAILED, message=MESSAGES[Outcome.NOT_FAILED])
        entries = trigger_log.requeue_record(conn, schema, mapping.table, target.alias, target.match, target.params)
        if entries:
            return Result(Outcome.RETRIED, How.REQUEUED, tuple(entries))
        if record["sfid"] is None:
            run(REINSERT, by_id)
            return Result(Outcome.RETRIED, How.RESAVED)
        if trigger_log.can_capture_update(conn, schema):
            trigger_log.capture_update(conn, schema, mapping.table, record["id"],
                                       UPDATED_COLUMNS.get(target.object_name, ()))
            return Result(Outcome.RETRIED, How.RESAVED)
        return Result(Outcome.SAVE_AGAIN, message=MESSAGES[Outcome.SAVE_AGAIN])
