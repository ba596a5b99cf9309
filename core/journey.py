"""The journey of a change: where one record's latest write stands between Postgres and Salesforce.

A change goes through five hops, each read from what Connect leaves in Postgres:
1. **written** by the app: the row's `_hc_lastop` turns PENDING (the status trigger);
2. **captured** in the trigger log: the log trigger adds an entry (its id, the transaction's txid, created_at);
3. **picked up** by Connect: the entry's state turns PENDING while Connect sends it;
4. **answered** by Salesforce: the entry ends SUCCESS (the row gets its sfid) or FAILED (`sf_message`),
   `processed_at`, and moves to `_trigger_log_archive`;
5. **synced back**: Connect's next poll writes Salesforce's copy into the row (`_hc_lastop` SYNCED,
   systemmodstamp), with what Salesforce filled in (a case's CaseNumber).

One statement reads the record (scoped to the customer's account) with its newest entry, live or
archived. The app only reads the trigger log: Connect owns it (a retry is the documented requeue,
core/trigger_log.py). The lookup by (table_name, record_id) uses app_idx_trigger_log_record on the
live log (sql/connect_indexes.sql) and Connect's own index on the archive's record_id.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import sql

from core import account_invoices, cases, connect, contacts, durations

# Entries that carry no change of their own: an update that changed nothing (IGNORE/IGNORED), or one
# condensed into a later entry of the same record (MERGED, under Merged Writes).
SKIPPED_STATES = (connect.LOG_IGNORE, connect.LOG_IGNORED, connect.LOG_MERGED)

# The record and its newest entry. Each branch of the UNION reads at most one entry through an index
# on (table_name, record_id): the live log's app_idx_trigger_log_record, the archive's record_id index.
RECORD_JOURNEY = """
SELECT {row}.id, {row}.sfid, {row}._hc_lastop, {row}._hc_err, {row}.systemmodstamp, {fields},
       e.source, e.id AS entry_id, e.txid, e.state AS entry_state, e.action, e.created_at, e.updated_at,
       e.processed_at, e.sf_message
FROM {table} {row}
LEFT JOIN LATERAL (
    (SELECT 'trigger log' AS source, t.id, t.txid, t.state, t.action, t.created_at, t.updated_at, t.processed_at,
            t.sf_message
       FROM {s}._trigger_log t
      WHERE t.table_name = {table_name} AND t.record_id = {row}.id AND t.state <> ALL({skipped})
      ORDER BY t.id DESC LIMIT 1)
    UNION ALL
    (SELECT 'archive', a.id, a.txid, a.state, a.action, a.created_at, a.updated_at, a.processed_at, a.sf_message
       FROM {s}._trigger_log_archive a
      WHERE a.table_name = {table_name} AND a.record_id = {row}.id AND a.state <> ALL({skipped})
      ORDER BY a.id DESC LIMIT 1)
    ORDER BY id DESC LIMIT 1
) e ON true
WHERE {match}
LIMIT 1
"""

# The last hop's time is the record's SystemModstamp: when Salesforce last changed it (a poll's own
# time is Connect's, not in Postgres).
READ_BACK = "Salesforce's copy, read by Connect's poll (time: its SystemModstamp)"

# Where the newest entry was found (RECORD_JOURNEY's `source`) → the table's name, for the panel.
LOG_TABLES = {"trigger log": "_trigger_log", "archive": "_trigger_log_archive"}

# Below this age a change is "just now": a figure in seconds would tick while nobody reads it.
JUST_NOW_SECONDS = 45

# A hop's state, and the word its badge says (never colour alone).
DONE, CURRENT, WAITING, FAILED, SKIPPED = "done", "current", "waiting", "failed", "skipped"
WORDS = {DONE: "Done", CURRENT: "In progress", WAITING: "Waiting", FAILED: "Refused", SKIPPED: "Not needed"}
HOPS = (
    ("written", "Written by the app"),
    ("captured", "Captured in the trigger log"),
    ("picked_up", "Picked up by Connect"),
    ("answered", "Answered by Salesforce"),
    ("synced", "Synced back to Postgres"),
)


@dataclass(frozen=True)
class Kind:
    """A record the portal shows a journey for: its object, the alias and scoping its module's MATCH uses."""

    object_name: str
    alias: str
    match: str
    fields: tuple[str, ...]  # what the page shows live, besides the sync state

    @property
    def table(self) -> str:
        return connect.table_name(self.object_name)


KINDS = {
    "case": Kind("Case", "c", cases.MATCH, ("casenumber", "status", "subject")),
    "contact": Kind("Contact", "c", contacts.MATCH,
                    ("name", "firstname", "lastname", "email", *contacts.COLUMNS)),
    "invoice": Kind("Invoice__c", "i", account_invoices.MATCH, ("name", "status__c")),
}


def _query(schema: str, kind: Kind) -> sql.Composed:
    """RECORD_JOURNEY for one kind of record."""
    row = sql.Identifier(kind.alias)
    return sql.SQL(RECORD_JOURNEY).format(
        row=row,
        fields=sql.SQL(", ").join(sql.SQL("{}.{}").format(row, sql.Identifier(f)) for f in kind.fields),
        table=sql.Identifier(schema, kind.table),
        s=sql.Identifier(schema),
        table_name=sql.Literal(kind.table),
        skipped=sql.Literal(list(SKIPPED_STATES)),
        match=sql.SQL(kind.match),
    )


def record(conn, schema: str, kind: str, params: dict) -> dict | None:
    """The record `params` finds (scoped by the kind's MATCH) with its newest trigger-log entry, or None."""
    return conn.execute(_query(schema, KINDS[kind]), params).fetchone()


def case(conn, schema: str, account: str, key: str) -> dict | None:
    """One of the account's cases (by sfid or external id) with its journey, or None."""
    return journey("case", record(conn, schema, "case", {"account": account, "key": key}))


def contact(conn, schema: str, customer) -> dict | None:
    """The customer's own Contact with its journey, or None."""
    return journey("contact", record(conn, schema, "contact", contacts.match_params(customer)))


def invoice(conn, schema: str, account: str, key: str) -> dict | None:
    """One of the account's invoices with its journey, or None."""
    return journey("invoice", record(conn, schema, "invoice", {"account": account, "key": key}))


def _utc(moment) -> datetime | None:
    """An aware UTC datetime; Connect's timestamp columns (systemmodstamp) are UTC without a time zone."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    at = _utc(moment)
    return at.isoformat().replace("+00:00", "Z") if at else None


def _hop(name: str, state: str, moment=None, detail: str = "") -> dict:
    """One hop as the panel and its JSON show it."""
    at = _utc(moment)
    return {
        "hop": name, "label": dict(HOPS)[name], "state": state, "word": WORDS[state], "detail": detail,
        "at": iso(at), "at_text": at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "",
    }


def retrying(row: dict) -> bool:
    """FAILED, and a retry of it waits: its newest entry is requeued or waiting in the live log."""
    return row["_hc_lastop"] == connect.FAILED and row["entry_state"] in (
        connect.LOG_REQUEUE, connect.LOG_NEW, connect.LOG_PENDING)


def hops(row: dict) -> list[dict]:
    """The five hops of the record's latest change, from its row and its newest entry."""
    lastop, entry = row["_hc_lastop"], row["entry_state"]
    if entry is None:
        # No entry: the row came from Salesforce (or its entry has left the archive, after 7 or 31 days).
        if lastop == connect.PENDING:
            written = _hop("written", CURRENT, detail=f"{connect.PENDING}: waiting for the trigger log")
        else:
            written = _hop("written", SKIPPED, detail="No change made here is on record")
        rest = [_hop(name, SKIPPED) for name in ("captured", "picked_up", "answered")]
        return [written, *rest, _synced(row)]
    result = [
        _hop("written", DONE, row["created_at"], f"{row['action'] or 'Change'}: _hc_lastop {connect.PENDING}"),
        _hop("captured", DONE, row["created_at"], f"Entry {row['entry_id']}, transaction {row['txid']}"),
    ]
    if entry == connect.LOG_NEW:
        result.append(_hop("picked_up", WAITING, detail=f"{connect.LOG_NEW}: waiting for Connect"))
    elif entry == connect.LOG_REQUEUE:
        result.append(_hop("picked_up", WAITING, detail=f"{connect.LOG_REQUEUE}: waiting to be sent again"))
    elif entry == connect.LOG_PENDING:
        result.append(_hop("picked_up", CURRENT, row["updated_at"], f"{connect.LOG_PENDING}: being sent"))
    else:
        result.append(_hop("picked_up", DONE, detail=f"Sent; the entry is in {LOG_TABLES[row['source']]}"))
    if entry == connect.LOG_SUCCESS:
        saved = f"{entry}: saved as {row['sfid']}" if row["sfid"] else entry
        result.append(_hop("answered", DONE, row["processed_at"], saved))
    elif entry in (connect.LOG_FAILED, connect.LOG_REQUEUED):
        message = row["sf_message"] or connect.error_message(row["_hc_err"])
        result.append(_hop("answered", FAILED, row["processed_at"], f"{entry}: {message}"))
    elif entry == connect.LOG_READONLY:
        result.append(_hop("answered", FAILED, detail=f"{entry}: a read-only mapping never sends changes"))
    else:
        result.append(_hop("answered", WAITING))
    result.append(_synced(row) if entry == connect.LOG_SUCCESS else _hop("synced", WAITING if entry in (
        connect.LOG_NEW, connect.LOG_PENDING, connect.LOG_REQUEUE) else SKIPPED))
    return result


def _synced(row: dict) -> dict:
    """The last hop: Salesforce's copy written back into the row by a poll."""
    if row["_hc_lastop"] == connect.SYNCED:
        return _hop("synced", DONE, row["systemmodstamp"], f"{connect.SYNCED}: {READ_BACK}")
    if row["_hc_lastop"] in (connect.INSERTED, connect.UPDATED):
        return _hop("synced", CURRENT, detail=f"{row['_hc_lastop']}: waiting for Connect's next poll")
    if row["_hc_lastop"] is None:
        return _hop("synced", DONE, row["systemmodstamp"], READ_BACK)
    return _hop("synced", WAITING)


def journey(kind: str, row: dict | None) -> dict | None:
    """What the journey panel shows and its JSON carries; None without a row."""
    if row is None:
        return None
    again = retrying(row)
    status = connect.sync_status(row["_hc_lastop"], row["_hc_err"], again)
    steps = hops(row)
    failed = any(h["state"] == FAILED for h in steps) and not again
    synced = steps[-1]["state"] == DONE
    # Finished: back from Salesforce, refused (until someone sends it again), or nothing on its way.
    final = synced or failed or all(h["state"] in (DONE, SKIPPED) for h in steps)
    definition = KINDS[kind]
    return {
        "object": definition.object_name,
        "sfid": row["sfid"],
        "lastop": row["_hc_lastop"],
        "state": "failed" if failed else "synced" if synced else "pending" if not final else "saved",
        "final": final,
        "status": status,
        "systemmodstamp": steps[-1]["at"] if synced else None,
        "fields": {f: row[f] for f in definition.fields},
        "hops": steps,
    }


def with_last_poll(answer: dict, polled_at) -> dict:
    """The journey with when Connect last polled the record's mapping (`last_poll`; None when not known,
    as on Heroku, where it is in the Connect dashboard): the poll that brings a change back, or brought it."""
    answer["last_poll"] = iso(polled_at)
    synced = answer["hops"][-1]
    if polled_at and synced["state"] in (DONE, CURRENT):
        synced["detail"] += f"; Connect last polled {answer['object']} at {_utc(polled_at):%H:%M:%S UTC}"
    return answer


def record_path(object_name: str, sfid: str) -> str:
    """A record's page in Lightning Experience, under the org's URL: /lightning/r/<Object>/<Id>/view."""
    return f"/lightning/r/{object_name}/{sfid}/view"


def record_url(cfg, object_name: str, sfid: str | None) -> str | None:
    """Where a person opens the record in the org (SALESFORCE_ORG_URL; locally the local org): None without either."""
    org_url = cfg.salesforce.org_url
    return org_url + record_path(object_name, sfid) if org_url and sfid else None


def age_words(moment, now: datetime | None = None) -> str:
    """How long ago `moment` was, in human units (core/durations.py): 'just now', '3 min ago', '2 d ago'."""
    seconds = max(0.0, ((now or datetime.now(UTC)) - _utc(moment)).total_seconds())
    return "just now" if seconds < JUST_NOW_SECONDS else f"{durations.human(round(seconds))} ago"


def last_synced(rows) -> dict | None:
    """When the newest of `rows` last changed in Salesforce (its systemmodstamp), as {iso, ago}; None if none has."""
    newest = max((r["systemmodstamp"] for r in rows if r and r.get("systemmodstamp")), default=None)
    return {"iso": iso(newest), "ago": age_words(newest)} if newest else None
