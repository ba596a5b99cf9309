"""Postgres → Salesforce: the trigger log, sent the way Connect's writer sends it.

A cycle: requeue archived rows marked REQUEUE, claim NEW rows (NEW → PENDING), send them in
sObject Collections calls of up to 200 records, write the outcome back to the mapped rows and the
trigger log (Connect's session: xmlbinary = 'hex', so nothing echoes into the log), archive.

Ordering: a record's changes go out one per *round*, in trigger-log id order; round k+1 is sent
after round k has been answered, so a later change never overtakes an earlier one.
If the org cannot be reached or the daily API limit is spent, the unsent rows go back to NEW and
`OrgUnavailable` tells the engine to back off: nothing is lost.
"""

import json
from collections import defaultdict

import requests
from psycopg import sql
from psycopg.types.json import Jsonb
from simple_salesforce.exceptions import SalesforceError

from core import connect
from standins.connect import state
from standins.connect.values import to_salesforce


class OrgUnavailable(RuntimeError):
    """The org cannot take writes now (unreachable, API limit, session expired): retry later."""


# Startup: rows a dead engine claimed were never answered for sure; they go back to NEW. Only one
# engine runs per schema (an advisory lock in engine.py), so no live engine is holding them.
RECOVER = "UPDATE {s}._trigger_log SET state = 'NEW', updated_at = now() WHERE state = 'PENDING'"

# The console's retry (as Connect's requeue): archived rows marked REQUEUE go back to the log as NEW.
REQUEUE = """
WITH marked AS (
    UPDATE {s}._trigger_log_archive SET state = 'REQUEUED', updated_at = now()
    WHERE state = 'REQUEUE' RETURNING *
)
INSERT INTO {s}._trigger_log (txid, created_at, updated_at, state, action, table_name, record_id, sfid, old, "values")
SELECT txid, created_at, now(), 'NEW', action, table_name, record_id, sfid, old, "values" FROM marked ORDER BY id
"""

# SKIP LOCKED: a second claimer (another engine started by mistake) skips rows instead of waiting.
CLAIM = """
UPDATE {s}._trigger_log AS l SET state = 'PENDING', updated_at = now()
WHERE l.id IN (SELECT id FROM {s}._trigger_log WHERE state = 'NEW' ORDER BY id LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED)
RETURNING l.id, l.action, l.table_name, l.record_id, l.sfid,
          hstore_to_json(NULLIF(l."values", '')::hstore) AS "values"
"""

UNCLAIM = "UPDATE {s}._trigger_log SET state = 'NEW', updated_at = now() WHERE id = ANY(%(ids)s) AND state = 'PENDING'"

FINISH = """
UPDATE {s}._trigger_log AS l
SET state = r.state, sf_result = r.sf_result, sf_message = r.sf_message,
    processed_at = now(), processed_tx = txid_current(), updated_at = now()
FROM jsonb_to_recordset(%(results)s) AS r(id integer, state text, sf_result integer, sf_message text)
WHERE l.id = r.id
"""

WRITE_BACK = """
UPDATE {t} AS t SET sfid = coalesce(r.sfid, t.sfid), _hc_lastop = r.lastop, _hc_err = r.err
FROM jsonb_to_recordset(%(rows)s) AS r(record_id integer, sfid text, lastop text, err text)
WHERE t.id = r.record_id
"""

CURRENT = "SELECT id, sfid, {ext} AS ext FROM {t} WHERE id = ANY(%(ids)s)"

ARCHIVE = """
WITH moved AS (
    DELETE FROM {s}._trigger_log
    WHERE state IN ('SUCCESS', 'FAILED', 'IGNORE', 'IGNORED', 'MERGED', 'READONLY') RETURNING *
)
INSERT INTO {s}._trigger_log_archive
    (id, txid, created_at, updated_at, processed_at, processed_tx, state, action, table_name, record_id, sfid,
     old, "values", sf_result, sf_message)
SELECT id, txid, created_at, updated_at, processed_at, processed_tx, state, action, table_name, record_id, sfid,
       old, "values", sf_result, sf_message FROM moved
ON CONFLICT (id) DO NOTHING
"""

# Connect keeps the archive 31 days (7 on the demo plan).
PRUNE = "DELETE FROM {s}._trigger_log_archive WHERE created_at < now() - interval '31 days'"


def _q(template: str, schema: str, **names) -> sql.Composed:
    return sql.SQL(template).format(s=sql.Identifier(schema), **names)


def recover(conn, schema: str) -> int:
    """Put rows claimed by a dead engine back to NEW; return how many."""
    return conn.execute(_q(RECOVER, schema)).rowcount


def requeue(conn, schema: str) -> int:
    """Copy archived rows marked REQUEUE back into the log as NEW; return how many."""
    with conn.transaction():
        return conn.execute(_q(REQUEUE, schema)).rowcount


def archive(conn, schema: str) -> int:
    """Move processed rows to the archive (FAILED ones stay there for a retry); return how many."""
    with conn.transaction():
        moved = conn.execute(_q(ARCHIVE, schema)).rowcount
        conn.execute(_q(PRUNE, schema))
    return moved


def claim(conn, schema: str, limit: int) -> list[dict]:
    """Take up to `limit` NEW rows, oldest first, marking them PENDING."""
    rows = conn.execute(_q(CLAIM, schema), {"limit": limit}).fetchall()
    return sorted(rows, key=lambda r: r["id"])


def push(conn, sf, schema: str, targets: dict, *, limit: int = 2000) -> dict:
    """One claim-and-send cycle; return counts by trigger-log outcome. Raises OrgUnavailable."""
    by_table = {t.table: t for t in targets.values()}
    rows = claim(conn, schema, limit)
    counts = defaultdict(int)
    if not rows:
        return counts
    per_record = defaultdict(list)
    for row in rows:
        per_record[(row["table_name"], row["record_id"])].append(row)
    rounds = max(len(changes) for changes in per_record.values())
    try:
        for k in range(rounds):
            batch = [changes[k] for changes in per_record.values() if len(changes) > k]
            for table, items in _by_table(batch).items():
                target = by_table.get(table)
                if target is None or not target.mapping.read_write:
                    _finish(conn, schema, None, [], [(r, "IGNORED", None, "not a read-write mapping") for r in items])
                    counts["IGNORED"] += len(items)
                    continue
                for outcome, n in _send_table(conn, sf, schema, target, items).items():
                    counts[outcome] += n
    except OrgUnavailable:
        conn.execute(_q(UNCLAIM, schema), {"ids": [r["id"] for r in rows]})
        raise
    return counts


def _by_table(batch):
    groups = defaultdict(list)
    for row in batch:
        groups[row["table_name"]].append(row)
    return groups


def _send_table(conn, sf, schema, target, items) -> dict:
    """Send one round of one table's changes; write the outcomes back."""
    mapping = target.mapping
    ext_column = connect.column_name(mapping.upsert_field)
    current = {r["id"]: r for r in conn.execute(
        _q(CURRENT, schema, ext=sql.Identifier(ext_column), t=sql.Identifier(schema, target.table)),
        {"ids": [i["record_id"] for i in items]})}
    ops = defaultdict(list)  # (kind) → [(log row, body)]
    skipped = []
    for item in items:
        row = current.get(item["record_id"])
        values = item["values"] or {}
        if item["action"] == "DELETE":
            ops["delete"].append((item, item["sfid"]))
            continue
        if row is None:
            skipped.append((item, "IGNORED", None, "the row was deleted before it was sent"))
            continue
        body = _body(target, values, creating=item["action"] == "INSERT" and not row["sfid"])
        if not body:
            skipped.append((item, "IGNORED", None, "no field Salesforce can take changed"))
            continue
        if row["sfid"]:
            ops["update"].append((item, {"Id": row["sfid"], **body}))
        elif row["ext"]:
            ops["upsert"].append((item, {mapping.upsert_field: row["ext"], **body}))
        else:
            ops["create"].append((item, body))
    counts = defaultdict(int)
    if skipped:
        _finish(conn, schema, None, [], skipped)
        counts["IGNORED"] += len(skipped)
    for kind, pairs in ops.items():
        for start in range(0, len(pairs), connect.WRITE_BATCH_SIZE):
            chunk = pairs[start:start + connect.WRITE_BATCH_SIZE]
            results = _call(sf, target.object_name, mapping.upsert_field, kind, chunk)
            outcomes = _finish_chunk(conn, schema, target, kind, chunk, results)
            state.count_calls(conn, target.object_name, 1)
            state.record_usage(conn, sf.api_usage)
            for outcome in outcomes:
                counts[outcome] += 1
    return counts


def _body(target, values: dict, *, creating: bool) -> dict:
    """The Salesforce fields for a trigger-log row: createable ones on insert, updateable on update."""
    body = {}
    for column, f in target.column_fields().items():
        if column not in values or not f["createable" if creating else "updateable"]:
            continue
        value = to_salesforce(f, values[column])
        if creating and value is None:
            continue
        body[f["name"]] = value
    for rel in target.relationships:
        # The parent named by its external id: Salesforce resolves it (only when the lookup is empty).
        if values.get(rel.column) and not values.get(rel.lookup_column):
            body = {k: v for k, v in body.items() if k.lower() != rel.lookup_column}
            body[rel.relationship] = {rel.parent_field: values[rel.column]}
    return body


def _call(sf, object_name, upsert_field, kind, chunk) -> list[dict]:
    """One sObject Collections call; a whole-call refusal becomes one error per record."""
    try:
        if kind == "delete":
            return sf.restful("composite/sobjects", method="DELETE",
                              params={"ids": ",".join(sfid for _, sfid in chunk), "allOrNone": "false"})
        records = [{"attributes": {"type": object_name}, **body} for _, body in chunk]
        payload = {"allOrNone": False, "records": records}
        if kind == "upsert":
            return sf.restful(f"composite/sobjects/{object_name}/{upsert_field}", method="PATCH", json=payload)
        return sf.restful("composite/sobjects", method="PATCH" if kind == "update" else "POST", json=payload)
    except requests.exceptions.RequestException as exc:
        raise OrgUnavailable(f"org unreachable: {exc.__class__.__name__}") from exc
    except SalesforceError as exc:
        if _retryable(exc):
            raise OrgUnavailable(_describe(exc)) from exc
        errors = exc.content if isinstance(exc.content, list) else [{"message": str(exc.content)}]
        errors = [{"statusCode": e.get("errorCode") or e.get("statusCode"), "message": e.get("message"),
                   "fields": e.get("fields", [])} for e in errors]
        return [{"id": None, "success": False, "errors": errors} for _ in chunk]


def _retryable(exc: SalesforceError) -> bool:
    """Errors after which the change must stay queued: API limit, expired session, the org's own trouble."""
    return exc.status in (401, 403) or exc.status >= 500


def _describe(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{exc.status} {content[0].get('errorCode')}: {content[0].get('message')}"
    return f"{exc.status}: {content}"


def _finish_chunk(conn, schema, target, kind, chunk, results) -> list[str]:
    """Write one call's answers back: the rows (sfid, _hc_lastop, _hc_err) and the log rows."""
    log_rows, table_rows, outcomes = [], [], []
    for (item, _), result in zip(chunk, results, strict=True):
        errors = result.get("errors") or []
        ok = result.get("success") or (kind == "delete" and errors and
                                       errors[0].get("statusCode") == "ENTITY_IS_DELETED")
        if ok:
            log_rows.append((item, "SUCCESS", 200, None))
            if kind != "delete":
                lastop = connect.INSERTED if item["action"] == "INSERT" else connect.UPDATED
                table_rows.append({"record_id": item["record_id"], "sfid": result.get("id"), "lastop": lastop,
                                   "err": None})
            outcomes.append("SUCCESS")
        else:
            message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or "failed"
            log_rows.append((item, "FAILED", 400, message))
            if kind != "delete":
                err = {"op": item["action"], "src": "SFDC", "msg": errors[0].get("message") if errors else message,
                       "errors": errors}
                table_rows.append({"record_id": item["record_id"], "sfid": None, "lastop": connect.FAILED,
                                   "err": json.dumps(err)})
            outcomes.append("FAILED")
    _finish(conn, schema, target.table, table_rows, log_rows)
    return outcomes


def _finish(conn, schema, table, table_rows, log_rows) -> None:
    """In one Connect-session transaction: the rows' outcome, then the log rows' state."""
    results = [{"id": item["id"], "state": st, "sf_result": code, "sf_message": msg}
               for item, st, code, msg in log_rows]
    with conn.transaction():
        conn.execute("SET LOCAL xmlbinary = 'hex'")
        if table_rows:
            conn.execute(_q(WRITE_BACK, schema, t=sql.Identifier(schema, table)), {"rows": Jsonb(table_rows)})
        conn.execute(_q(FINISH, schema), {"results": Jsonb(results)})
