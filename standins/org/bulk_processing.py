"""Bulk processing: uploaded records written by the org's own rules, and query jobs answered by its SOQL runner.

Records go through standins/org/store.py exactly as REST writes do, so Bulk and REST agree: in
chunks, one transaction a chunk and a savepoint a record, so each record succeeds or fails on its
own, as in Salesforce. A query job's SOQL is run by the REST query runner
(standins/org/api/query.py `run_query`), the one function every API runs SOQL through, and its
answer stored in the job store (standins/org/bulk_jobs.py).
"""

import json
import logging
import re
import time

from standins.org import describe as schema
from standins.org import limits, store
from standins.org.api.query import run_query
from standins.org.bulk_csv import columns as result_columns
from standins.org.bulk_csv import parent_reference
from standins.org.bulk_jobs import DONE_BATCH, BulkError, statement, store_results, update_batch
from standins.org.errors import SalesforceError
from standins.org.ids import full_id, looks_like_id

log = logging.getLogger(__name__)

LOCK_BATCH = "SELECT * FROM {s}.bulk_batches WHERE id = %(id)s FOR UPDATE"
PENDING_ROWS = """
SELECT n, data FROM {s}.bulk_rows WHERE batch_id = %(batch_id)s AND outcome IS NULL ORDER BY n LIMIT %(limit)s
"""
# Outcomes of a processed chunk, written in one statement.
RECORD_OUTCOMES = """
UPDATE {s}.bulk_rows AS r SET outcome = o.outcome, record_id = o.record_id, created = o.created, error = o.error
  FROM unnest(%(n)s::int[], %(outcome)s::text[], %(record_id)s::varchar[], %(created)s::boolean[], %(error)s::jsonb[])
       AS o(n, outcome, record_id, created, error)
 WHERE r.batch_id = %(batch_id)s AND r.n = o.n
"""


# ---- what a job and an upload may name ----------------------------------------------------------

def external_id_field(obj: str, name: str | None) -> str:
    """The upsert key: an External ID field of the object, or Id (InvalidJob otherwise)."""
    if not name:
        raise BulkError("InvalidJob", f"External ID was blank for {obj}. An External ID must be specified for upsert.")
    try:
        f = schema.field_of(obj, name)
    except SalesforceError:
        f = None
    if f is None or not (f["externalId"] or f["name"] == "Id"):
        raise BulkError("InvalidJob", f"Field name provided, {name} does not match an External ID, Salesforce Id, "
                        f"or indexed field for {obj}")
    return f["name"]


def sobject(name) -> str:
    """The job's object by its API name; InvalidEntity for one the org does not have."""
    try:
        return schema.canonical_object(name or "")
    except SalesforceError:
        raise BulkError("InvalidEntity", f"sObject type '{name}' is not supported.") from None


def header_problem(obj: str, operation: str, header: list[str]) -> str | None:
    """Why an upload's header cannot be processed (the batch then fails, as Salesforce fails it)."""
    for name in header:
        parent, _, field = name.partition(".")
        if field:
            ref = parent_reference(obj, parent)
            known = ref is not None and any(f["name"].lower() == field.lower() for f in
                                            schema.describe(ref["referenceTo"][0])["fields"])
        else:
            known = name.lower() in schema.fields_by_lower(obj)
        if not known:
            return f"InvalidBatch : Field name not found : {name}"
    if operation in ("delete", "hardDelete") and [h.lower() for h in header] != ["id"]:
        return "InvalidBatch : The 'delete' batch must contain only ids"
    return None


# ---- processing uploaded records ----------------------------------------------------------------

def _pop(values: dict, name: str):
    for key in list(values):
        if key.lower() == name.lower():
            return values.pop(key)
    return None


# How a bulk job's result answers an Id that names no live record of its object (store.UNAVAILABLE's reasons).
_MALFORMED = (400, "MALFORMED_ID", "{label} ID: id value of incorrect type: {id}", ["Id"])
BULK_UNAVAILABLE = {"malformed": _MALFORMED, "wrong_type": _MALFORMED,
                    "missing": (400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []),
                    "deleted": (400, "ENTITY_IS_DELETED", "entity is deleted", [])}


def apply(conn, schema: str, job: dict, values: dict) -> tuple[str, bool]:
    """Write one record as the job's operation says, by the org's rules; return (Id, created)."""
    obj, op = job["object"], job["operation"]
    if op == "insert":
        return store.create(conn, schema, obj, values), True
    if op == "upsert":
        ext = job["external_id_field"]
        key = _pop(values, ext)
        if ext.lower() == "id":
            if not key:
                return store.create(conn, schema, obj, values), True
            op = "update"
            values["Id"] = key
        else:
            if key in (None, ""):
                raise SalesforceError(400, "MISSING_ARGUMENT", f"{ext} not specified", [ext])
            return store.upsert(conn, schema, obj, ext, key, values)
    record_id = _pop(values, "Id")
    if not record_id:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"Id not specified in an {op} call", ["Id"])
    write = {"update": lambda: store.update(conn, schema, obj, record_id, values),
             "delete": lambda: store.delete(conn, schema, obj, record_id),
             "hardDelete": lambda: store.hard_delete(conn, schema, obj, record_id)}[op]
    try:
        write()
    except store.Unavailable as exc:
        raise exc.answered(BULK_UNAVAILABLE) from None
    return full_id(record_id), False


def _outcome(conn, schema, job, to_values, row) -> tuple:
    """(outcome, record_id, created, error) of one row, written in its own savepoint."""
    try:
        with conn.transaction():
            record_id, created = apply(conn, schema, job, to_values(row["data"]))
        return "success", record_id, created, None
    except SalesforceError as exc:
        error = {"statusCode": exc.code, "message": exc.message, "fields": exc.fields}
    except Exception as exc:  # an org defect: the record fails, as Salesforce answers its own faults
        log.exception("local org: bulk record failed unexpectedly")
        error = {"statusCode": "UNKNOWN_EXCEPTION", "message": f"An unexpected error occurred: {type(exc).__name__}",
                 "fields": []}
    known = row["data"] if isinstance(row["data"], dict) else {}
    return "error", full_id(known["Id"]) if looks_like_id(known.get("Id")) else None, False, json.dumps(error)


def process_batch(org, job: dict, batch_id: str, to_values, *, chunk_size: int, on_chunk=None) -> dict:
    """Process a batch's unprocessed rows a chunk at a time; return the batch as it ends (Completed or Failed).

    Each chunk is one transaction holding the batch row's lock, so two processes polling the same job
    take turns and no row is written twice; a crash loses at most the chunk in flight, which the next
    poll processes again. `on_chunk(conn)` may refuse a chunk (the daily batch allowance) with a BulkError.
    """
    while True:
        with org.connection() as conn, conn.transaction():
            batch = conn.execute(statement(LOCK_BATCH, org.schema), {"id": batch_id}).fetchone()
            if batch["state"] in DONE_BATCH:
                return batch
            pending = conn.execute(statement(PENDING_ROWS, org.schema),
                                   {"batch_id": batch_id, "limit": chunk_size}).fetchall()
            if not pending:
                return update_batch(conn, org.schema, batch_id, "Completed")
            try:
                if on_chunk:
                    on_chunk(conn)
            except BulkError as exc:
                return update_batch(conn, org.schema, batch_id, "Failed", message=f"{exc.kind} : {exc.message}")
            started = time.monotonic()
            outcomes = [_outcome(conn, org.schema, job, to_values, row) for row in pending]
            conn.execute(statement(RECORD_OUTCOMES, org.schema), {
                "batch_id": batch_id, "n": [r["n"] for r in pending], "outcome": [o[0] for o in outcomes],
                "record_id": [o[1] for o in outcomes], "created": [o[2] for o in outcomes],
                "error": [o[3] for o in outcomes]})
            update_batch(conn, org.schema, batch_id, "InProgress", processed=len(pending),
                         failed=sum(o[0] == "error" for o in outcomes),
                         ms=int((time.monotonic() - started) * 1000))


# What Bulk query refuses that the REST runner may accept, found in the text outside string literals.
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")
REFUSED = (
    (re.compile(r"\b(count|count_distinct|sum|avg|min|max)\s*\(", re.I),
     "Aggregate functions such as COUNT() are not supported in Bulk Query"),
    (re.compile(r"\bgroup\s+by\b", re.I), "GROUP BY is not supported in Bulk Query"),
    (re.compile(r"\boffset\b", re.I), "OFFSET is not supported in Bulk Query"),
    (re.compile(r"\btypeof\b", re.I), "TYPEOF is not supported in Bulk Query"),
)
SUBQUERY = re.compile(r"\(\s*select\b", re.I)
SELECT_LIST = re.compile(r"^\s*select\s+(.*?)\s+from\s+(\w+)", re.I | re.S)


def refusal(text: str, *, subqueries: bool) -> str | None:
    """Why Bulk query refuses this SOQL (None if it does not): aggregates, GROUP BY, OFFSET, TYPEOF, subqueries."""
    bare = _LITERAL.sub("''", text)
    if not subqueries and SUBQUERY.search(bare):
        return "Aggregate Relationships not supported in Bulk Query with CSV content type."
    for pattern, message in REFUSED:
        if pattern.search(bare):
            return message
    return None


def answer_query(org, batch_id: str, text: str, include_deleted: bool, version: str, render) -> dict:
    """Run a query job's SOQL with the REST runner and store its answer; return the batch.

    The first page runs before anything is stored, so a query the runner refuses (a SoqlError or
    SalesforceError) is raised to the caller with nothing written. `render(record, columns)` turns a
    REST record into the stored body (a CSV line, a JSON object, an XML element).
    """
    started = time.monotonic()
    first = run_query(org, text, 0, include_deleted, version)
    m = SELECT_LIST.match(_LITERAL.sub("''", text))
    obj = first["records"][0]["attributes"]["type"] if first["records"] else m.group(2)
    columns = result_columns([c.strip() for c in m.group(1).split(",")], obj)

    def bodies():
        page, offset = first, 0
        while True:
            for record in page["records"]:
                yield render(record, columns)
            offset += len(page["records"])
            if page["done"] or not page["records"]:
                return
            page = run_query(org, text, offset, include_deleted, version)

    with org.connection() as conn, conn.transaction():
        conn.execute(statement(LOCK_BATCH, org.schema), {"id": batch_id})
        count, size = store_results(conn, org.schema, batch_id, bodies())
        return update_batch(conn, org.schema, batch_id, "Completed", columns=columns, processed=count, size=size,
                            ms=int((time.monotonic() - started) * 1000))


def spend_batch(conn, schema: str) -> None:
    """Count one batch against DailyBulkApiBatches (shared by Bulk 1.0 and 2.0); ExceededQuota once it is spent."""
    used, top = limits.spend(conn, schema, "DailyBulkApiBatches", 1)
    if used > top:
        raise BulkError("ExceededQuota", f"Max bulk API batches ({top}) per 24 hrs has been reached ({used})")
