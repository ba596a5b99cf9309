"""Salesforce → Postgres: per mapping, poll by SystemModstamp and write as Connect writes.

The query is a keyset window on (SystemModstamp, Id), so records sharing one timestamp across a
page boundary are neither missed nor read twice:

    SELECT … FROM Obj WHERE SystemModstamp > :t OR (SystemModstamp = :t AND Id > :id)
    ORDER BY SystemModstamp, Id LIMIT 2000

It goes through `queryAll`, so deleted records (IsDeleted = true, in the recycle bin) come in the
same window: their rows are deleted, as Connect deletes them. One query per 2,000 changes covers
both updates and deletes (real Connect polls for deletes separately: POLLING_SF_FOR_DELETES).

Rows are written in Connect's session (xmlbinary = 'hex': `_hc_lastop` SYNCED, no trigger-log
echo), matched by sfid, then by the upsert field, else inserted. A row with a change still waiting
to be sent (NEW or PENDING trigger-log rows) is left alone: the local change goes out first, and
the record's next SystemModstamp brings Salesforce's final version back (see docs/local-standins.md).
"""

from datetime import timedelta

import requests
from psycopg import sql
from psycopg.types.json import Jsonb
from simple_salesforce.exceptions import SalesforceError

from core import connect
from standins.connect import state
from standins.connect.push import OrgUnavailable, _describe, _retryable
from standins.connect.values import parse_datetime, soql_datetime

PAGE = 2000

# A row with a change not yet sent is not overwritten (it would make the local write vanish).
_NOT_PENDING = """NOT EXISTS (SELECT 1 FROM {s}._trigger_log AS l
                  WHERE l.table_name = {table} AND l.record_id = t.id AND l.state IN ('NEW', 'PENDING'))"""

UPDATE_BY_SFID = """
UPDATE {t} AS t SET ({cols}) = ({incoming})
FROM jsonb_populate_recordset(NULL::{t}, %(rows)s) AS i
WHERE t.sfid = i.sfid AND ({current}) IS DISTINCT FROM ({incoming}) AND {not_pending}
"""

# A Postgres-born row that Connect just inserted has no sfid yet: match it by its external id.
UPDATE_BY_EXTERNAL_ID = """
UPDATE {t} AS t SET ({cols}) = ({incoming})
FROM jsonb_populate_recordset(NULL::{t}, %(rows)s) AS i
WHERE t.sfid IS NULL AND t.{ext} = i.{ext} AND {not_pending}
"""

INSERT_NEW = """
INSERT INTO {t} ({cols})
SELECT {incoming} FROM jsonb_populate_recordset(NULL::{t}, %(rows)s) AS i
WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE t.sfid = i.sfid) {and_no_ext_match}
"""

DELETE_GONE = "DELETE FROM {t} WHERE sfid = ANY(%(ids)s)"


def soql(target, watermark_ts=None, watermark_id=None) -> str:
    """The polling query for a mapping, from the watermark on (everything on the initial load)."""
    where = ""
    if watermark_ts is not None:
        t = soql_datetime(watermark_ts)
        if not watermark_id.isalnum() and watermark_id:
            raise ValueError(f"not a Salesforce Id: {watermark_id!r}")
        where = f" WHERE SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > '{watermark_id}')"
    # SOQL for the org, built from the mapping file and our own watermark (checked above), never user input.
    return (f"SELECT {', '.join(target.mapping.fields)} FROM {target.object_name}{where} "  # noqa: S608
            f"ORDER BY SystemModstamp, Id LIMIT {PAGE}")


def pull(conn, sf, schema: str, target) -> int:
    """Bring a mapping up to date with the org; return the records written or deleted."""
    name = target.object_name
    mark = state.watermark(conn, name)
    initial = mark is None or mark["watermark_ts"] is None
    state.set_mapping(conn, name, state.INITIAL if initial else state.POLLING_SF_CHANGES)
    ts, last_id = (None, None) if initial else (mark["watermark_ts"], mark["watermark_id"])
    written = 0
    while True:
        records = _query(conn, sf, name, soql(target, ts, last_id), include_deleted=not initial)
        # The org may keep finer timestamps than it reports; never re-apply what the watermark covers.
        fresh = [r for r in records
                 if ts is None or (parse_datetime(r["SystemModstamp"]), r["Id"]) > (ts, last_id)]
        if fresh:
            written += write(conn, schema, target, fresh)
            ts, last_id = parse_datetime(fresh[-1]["SystemModstamp"]), fresh[-1]["Id"]
            state.set_watermark(conn, name, ts, last_id)
        if len(records) < PAGE:
            break
        if not fresh:  # a full page the watermark already covered: step past that millisecond
            ts, last_id = ts.replace(microsecond=ts.microsecond // 1000 * 1000) + timedelta(milliseconds=1), ""
    if initial and ts is None:
        # Nothing in the org yet: start the watermark now, so the next poll is not another initial load.
        state.set_watermark(conn, name, state.utcnow().replace(microsecond=0), "")
    state.polled(conn, name)
    state.set_mapping(conn, name, state.DATA_SYNCED)
    return written


def _query(conn, sf, name, text, *, include_deleted) -> list[dict]:
    try:
        result = sf.query(text, include_deleted=include_deleted)
    except requests.exceptions.RequestException as exc:
        raise OrgUnavailable(f"org unreachable: {exc.__class__.__name__}") from exc
    except SalesforceError as exc:
        if _retryable(exc):
            raise OrgUnavailable(_describe(exc)) from exc
        raise
    finally:
        state.count_calls(conn, name, 1)
    state.record_usage(conn, sf.api_usage)
    return result["records"]


def write(conn, schema: str, target, records: list[dict]) -> int:
    """Apply a page of records as Connect does, in one transaction; return rows changed."""
    mapping = target.mapping
    deleted = [r["Id"] for r in records if r.get("IsDeleted")]
    live = [_row(target, r) for r in records if not r.get("IsDeleted")]
    t = sql.Identifier(schema, target.table)
    columns = list(mapping.columns)
    names = {
        "t": t,
        "cols": sql.SQL(", ").join(map(sql.Identifier, columns)),
        "incoming": sql.SQL(", ").join(sql.Identifier("i", c) for c in columns),
        "current": sql.SQL(", ").join(sql.Identifier("t", c) for c in columns),
        "not_pending": sql.SQL(_NOT_PENDING).format(s=sql.Identifier(schema), table=sql.Literal(target.table)),
    }
    changed = 0
    with conn.transaction():
        conn.execute("SET LOCAL xmlbinary = 'hex'")
        if deleted:
            changed += conn.execute(sql.SQL(DELETE_GONE).format(t=t), {"ids": deleted}).rowcount
        if live:
            rows = {"rows": Jsonb(live)}
            changed += conn.execute(sql.SQL(UPDATE_BY_SFID).format(**names), rows).rowcount
            and_no_ext = sql.SQL("")
            if mapping.upsert_field:
                ext = sql.Identifier(connect.column_name(mapping.upsert_field))
                changed += conn.execute(sql.SQL(UPDATE_BY_EXTERNAL_ID).format(ext=ext, **names), rows).rowcount
                and_no_ext = sql.SQL("AND (i.{ext} IS NULL OR NOT EXISTS "
                                     "(SELECT 1 FROM {t} AS t WHERE t.{ext} = i.{ext}))").format(ext=ext, t=t)
            changed += conn.execute(sql.SQL(INSERT_NEW).format(and_no_ext_match=and_no_ext, **names), rows).rowcount
    return changed


def _row(target, record: dict) -> dict:
    """A record as {column: value}; datetimes stay as Salesforce text (Postgres reads them as UTC)."""
    return {"sfid" if f == "Id" else connect.column_name(f): record.get(f) for f in target.mapping.fields}
