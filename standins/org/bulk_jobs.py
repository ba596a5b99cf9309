"""The Bulk APIs' shared job store: jobs, batches, uploaded rows and stored query results.

Bulk API 1.0 (standins/org/api/bulk1.py) and 2.0 (standins/org/api/bulk2.py) keep their jobs here, in
tables of the org's schema, so any org process can answer for any job and a restart loses nothing.
An upload is written to `bulk_rows` as it streams in (COPY, never whole in memory) and read back a
chunk at a time; how rows are processed and queries answered is standins/org/bulk_processing.py.
"""

import json

from psycopg import sql

from core.db import compose
from standins.org import store
from standins.org.ids import full_id, looks_like_id, salesforce_id

# Key prefixes: jobs are AsyncApexJob records (750), batches 751, query result files 752.
JOB_PREFIX, BATCH_PREFIX, RESULT_PREFIX = "750", "751", "752"
FIRST_ID = 1_000_000
# Terminal states: a job or batch in one is never processed again.
DONE_BATCH = ("Completed", "Failed", "NotProcessed")

BULK_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.bulk_jobs (
    id                varchar(18) PRIMARY KEY,
    job_type          text NOT NULL,              -- Classic (Bulk 1.0), V2Ingest, V2Query
    operation         text NOT NULL,
    object            text NOT NULL,
    state             text NOT NULL,
    external_id_field text,
    content_type      text NOT NULL,              -- CSV, JSON, XML
    concurrency_mode  text NOT NULL DEFAULT 'Parallel',
    line_ending       text NOT NULL DEFAULT 'LF',
    column_delimiter  text NOT NULL DEFAULT 'COMMA',
    api_version       text NOT NULL,
    query             text,
    error_message     text,
    created_date      timestamp NOT NULL,
    system_modstamp   timestamp NOT NULL
);
CREATE INDEX IF NOT EXISTS bulk_jobs_listed ON {schema}.bulk_jobs (job_type, created_date, id);
CREATE TABLE IF NOT EXISTS {schema}.bulk_batches (
    id              varchar(18) PRIMARY KEY,
    job_id          varchar(18) NOT NULL REFERENCES {schema}.bulk_jobs ON DELETE CASCADE,
    state           text NOT NULL,
    state_message   text,
    format          text NOT NULL,                -- CSV, JSON, XML (records) or SOQL (a query)
    columns         jsonb,                        -- a CSV upload's header; a query's result columns
    soql            text,
    result_id       varchar(18),
    result_bytes    bigint NOT NULL DEFAULT 0,
    processed       integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    processing_ms   integer NOT NULL DEFAULT 0,
    created_date    timestamp NOT NULL,
    system_modstamp timestamp NOT NULL
);
CREATE INDEX IF NOT EXISTS bulk_batches_job ON {schema}.bulk_batches (job_id, created_date, id);
-- One row per uploaded record, as uploaded; its outcome once processed (NULL: not processed).
CREATE TABLE IF NOT EXISTS {schema}.bulk_rows (
    batch_id  varchar(18) NOT NULL REFERENCES {schema}.bulk_batches ON DELETE CASCADE,
    n         integer NOT NULL,
    data      jsonb NOT NULL,
    outcome   text,
    record_id varchar(18),
    created   boolean,
    error     jsonb,
    PRIMARY KEY (batch_id, n)
);
-- A query's answer, one rendered record (a CSV line, a JSON object, an XML element) per row.
CREATE TABLE IF NOT EXISTS {schema}.bulk_results (
    batch_id varchar(18) NOT NULL REFERENCES {schema}.bulk_batches ON DELETE CASCADE,
    n        integer NOT NULL,
    body     text NOT NULL,
    PRIMARY KEY (batch_id, n)
);
"""
TABLES = ("bulk_jobs", "bulk_batches", "bulk_rows", "bulk_results")

NEXT_NUMBER = """
INSERT INTO {s}.counters AS c (name, value) VALUES (%(name)s, %(start)s)
ON CONFLICT (name) DO UPDATE SET value = c.value + 1 RETURNING value
"""
INSERT_JOB = """
INSERT INTO {s}.bulk_jobs (id, job_type, operation, object, state, external_id_field, content_type,
                           concurrency_mode, line_ending, column_delimiter, api_version, query,
                           created_date, system_modstamp)
VALUES (%(id)s, %(job_type)s, %(operation)s, %(object)s, %(state)s, %(external_id_field)s, %(content_type)s,
        %(concurrency_mode)s, %(line_ending)s, %(column_delimiter)s, %(api_version)s, %(query)s, {now}, {now})
RETURNING *
"""
# A job with its batches' totals: what every job-info answer is built from.
JOB_WITH_TOTALS = """
SELECT j.*, coalesce(sum(b.processed), 0)::int AS processed, coalesce(sum(b.failed), 0)::int AS failed,
       coalesce(sum(b.processing_ms), 0)::int AS processing_ms, count(b.id)::int AS batches,
       count(b.id) FILTER (WHERE b.state = 'Queued')::int AS batches_queued,
       count(b.id) FILTER (WHERE b.state = 'InProgress')::int AS batches_in_progress,
       count(b.id) FILTER (WHERE b.state = 'Completed')::int AS batches_completed,
       count(b.id) FILTER (WHERE b.state IN ('Failed', 'NotProcessed'))::int AS batches_failed
  FROM {s}.bulk_jobs j LEFT JOIN {s}.bulk_batches b ON b.job_id = j.id
 WHERE {where}
 GROUP BY j.id
 ORDER BY j.created_date, j.id
"""
SET_JOB_STATE = """
UPDATE {s}.bulk_jobs SET state = %(state)s, error_message = coalesce(%(error)s, error_message), system_modstamp = {now}
 WHERE id = %(id)s RETURNING *
"""
LOCK_JOB = "SELECT * FROM {s}.bulk_jobs WHERE id = %(id)s FOR UPDATE"
DELETE_JOB = "DELETE FROM {s}.bulk_jobs WHERE id = %(id)s"
INSERT_BATCH = """
INSERT INTO {s}.bulk_batches (id, job_id, state, format, columns, soql, result_id, created_date, system_modstamp)
VALUES (%(id)s, %(job_id)s, %(state)s, %(format)s, %(columns)s, %(soql)s, %(result_id)s, {now}, {now})
RETURNING *
"""
BATCHES_OF = "SELECT * FROM {s}.bulk_batches WHERE job_id = %(job_id)s ORDER BY created_date, id"
SET_BATCH = """
UPDATE {s}.bulk_batches
   SET state = %(state)s, state_message = coalesce(%(message)s, state_message),
       columns = coalesce(%(columns)s, columns),
       processed = processed + %(processed)s, failed = failed + %(failed)s, processing_ms = processing_ms + %(ms)s,
       result_bytes = result_bytes + %(bytes)s, system_modstamp = {now}
 WHERE id = %(id)s RETURNING *
"""
# An aborted job's batches that were never processed are NotProcessed, as Salesforce marks them.
ABANDON_BATCHES = """
UPDATE {s}.bulk_batches SET state = 'NotProcessed', system_modstamp = {now}
 WHERE job_id = %(job_id)s AND state IN ('Queued', 'InProgress')
"""
COPY_ROWS = "COPY {s}.bulk_rows (batch_id, n, data) FROM STDIN"
ROWS_AFTER = """
SELECT n, data, outcome, record_id, created, error FROM {s}.bulk_rows
 WHERE batch_id = %(batch_id)s AND n > %(after)s AND {which} ORDER BY n LIMIT %(limit)s
"""
ROW_FILTERS = {"all": "true", "success": "outcome = 'success'", "error": "outcome = 'error'",
               "unprocessed": "outcome IS NULL"}
COPY_RESULTS = "COPY {s}.bulk_results (batch_id, n, body) FROM STDIN"
FORGET_RESULTS = "DELETE FROM {s}.bulk_results WHERE batch_id = %(batch_id)s"
RESULTS_FROM = """
SELECT n, body FROM {s}.bulk_results WHERE batch_id = %(batch_id)s AND n >= %(start)s ORDER BY n LIMIT %(limit)s
"""
RESULT_COUNT = "SELECT count(*)::int AS n FROM {s}.bulk_results WHERE batch_id = %(batch_id)s"
READ_CHUNK = 10_000


class BulkError(Exception):
    """A refusal of the Bulk APIs: `kind` is Bulk 1.0's exceptionCode (InvalidJob, …); 2.0 answers it upper-cased."""

    def __init__(self, kind: str, message: str, status: int = 400):
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def statement(text: str, schema: str, **parts) -> sql.Composed:
    """A statement of the bulk store with the schema and the transaction's time filled in."""
    return compose(text, s=sql.Identifier(schema), now=store.NOW, **parts)


def ensure_schema(conn, schema: str) -> None:
    """Create the bulk tables (idempotent); the org's own tables come first (store.ensure_schema)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"local-org-bulk:{schema}",))
        conn.execute(compose(BULK_DDL, schema=sql.Identifier(schema)))


def new_id(conn, schema: str, prefix: str) -> str:
    """A fresh Id with the key prefix of a job, batch or result."""
    n = conn.execute(statement(NEXT_NUMBER, schema), {"name": "id:" + prefix, "start": FIRST_ID}).fetchone()["value"]
    return salesforce_id(prefix, n)


# ---- jobs and batches ---------------------------------------------------------------------------

def create_job(conn, schema: str, **fields) -> dict:
    """A new job row (fields as the bulk_jobs columns)."""
    values = {"external_id_field": None, "concurrency_mode": "Parallel", "line_ending": "LF",
              "column_delimiter": "COMMA", "query": None, **fields, "id": new_id(conn, schema, JOB_PREFIX)}
    conn.execute(statement(INSERT_JOB, schema), values)
    return job(conn, schema, values["id"], (values["job_type"],))


def job(conn, schema: str, job_id: str, job_types: tuple) -> dict:
    """One job with its batch totals; an unknown or other API's job is NotFound / InvalidJob."""
    where = sql.SQL("j.id = {} AND j.job_type = ANY({})").format(
        sql.Literal(full_id(job_id) if looks_like_id(job_id) else job_id), sql.Literal(list(job_types)))
    row = conn.execute(statement(JOB_WITH_TOTALS, schema, where=where)).fetchone()
    if row is None:
        raise BulkError("InvalidJob" if "Classic" in job_types else "NotFound",
                        f"Unable to find object: {job_id}" if "Classic" in job_types
                        else "The requested resource does not exist", 400 if "Classic" in job_types else 404)
    return row


def jobs(conn, schema: str, job_types: tuple, *, concurrency_mode: str | None = None) -> list[dict]:
    """Every job of these types, oldest first, with batch totals."""
    where = sql.SQL("j.job_type = ANY({})").format(sql.Literal(list(job_types)))
    if concurrency_mode:
        where += sql.SQL(" AND j.concurrency_mode = {}").format(sql.Literal(concurrency_mode))
    return conn.execute(statement(JOB_WITH_TOTALS, schema, where=where)).fetchall()


def set_state(conn, schema: str, job_id: str, state: str, allowed_from: tuple, error: str | None = None) -> dict:
    """Move a job to `state` if it is in one of `allowed_from`; InvalidJobState otherwise."""
    with conn.transaction():
        current = conn.execute(statement(LOCK_JOB, schema), {"id": job_id}).fetchone()
        if current["state"] not in allowed_from:
            raise BulkError("InvalidJobState", f"Invalid state transition from {current['state']} to {state}: "
                            f"job {job_id} is {current['state']}")
        conn.execute(statement(SET_JOB_STATE, schema), {"id": job_id, "state": state, "error": error})
        if state == "Aborted":
            conn.execute(statement(ABANDON_BATCHES, schema), {"job_id": job_id})
    return current


def delete_job(conn, schema: str, job_id: str) -> None:
    """Forget a job, its batches, rows and results."""
    conn.execute(statement(DELETE_JOB, schema), {"id": job_id})


def create_batch(conn, schema: str, job_id: str, fmt: str, *, columns=None, soql=None) -> dict:
    """A new Queued batch of a job (a query batch gets its result id at once)."""
    values = {"id": new_id(conn, schema, BATCH_PREFIX), "job_id": job_id, "state": "Queued", "format": fmt,
              "columns": json.dumps(columns) if columns is not None else None, "soql": soql,
              "result_id": new_id(conn, schema, RESULT_PREFIX) if fmt == "SOQL" else None}
    return conn.execute(statement(INSERT_BATCH, schema), values).fetchone()


def batches(conn, schema: str, job_id: str) -> list[dict]:
    """A job's batches, oldest first."""
    return conn.execute(statement(BATCHES_OF, schema), {"job_id": job_id}).fetchall()


def update_batch(conn, schema: str, batch_id: str, state: str, *, message=None, columns=None,
                 processed=0, failed=0, ms=0, size=0) -> dict:
    """Record a batch's new state and add to its counters."""
    return conn.execute(statement(SET_BATCH, schema), {
        "id": batch_id, "state": state, "message": message, "processed": processed, "failed": failed, "ms": ms,
        "bytes": size, "columns": json.dumps(columns) if columns is not None else None}).fetchone()


def add_rows(conn, schema: str, batch_id: str, rows) -> int:
    """Stream uploaded records (lists of CSV values, or record dicts) into a batch; return how many."""
    count = 0
    with conn.cursor().copy(statement(COPY_ROWS, schema)) as copy:
        for row in rows:
            count += 1
            copy.write_row((batch_id, count, json.dumps(row)))
    return count


def rows(conn, schema: str, batch_id: str, which: str = "all"):
    """A batch's rows in upload order ({n, data, outcome, record_id, created, error}), read a chunk at a time."""
    after = 0
    while True:
        chunk = conn.execute(statement(ROWS_AFTER, schema, which=sql.SQL(ROW_FILTERS[which])),
                             {"batch_id": batch_id, "after": after, "limit": READ_CHUNK}).fetchall()
        yield from chunk
        if len(chunk) < READ_CHUNK:
            return
        after = chunk[-1]["n"]


# ---- stored query results -----------------------------------------------------------------------

def store_results(conn, schema: str, batch_id: str, bodies) -> tuple[int, int]:
    """Replace a batch's stored results with `bodies` (rendered records); return (count, bytes)."""
    conn.execute(statement(FORGET_RESULTS, schema), {"batch_id": batch_id})
    count = size = 0
    with conn.cursor().copy(statement(COPY_RESULTS, schema)) as copy:
        for body in bodies:
            count += 1
            size += len(body.encode()) + 1
            copy.write_row((batch_id, count, body))
    return count, size


def results(conn, schema: str, batch_id: str, start: int = 1, limit: int | None = None):
    """Stored result bodies from number `start` on (at most `limit`), a chunk at a time."""
    left = limit
    while left is None or left > 0:
        take = READ_CHUNK if left is None else min(left, READ_CHUNK)
        chunk = conn.execute(statement(RESULTS_FROM, schema),
                             {"batch_id": batch_id, "start": start, "limit": take}).fetchall()
        for row in chunk:
            yield row["body"]
        if len(chunk) < take:
            return
        start = chunk[-1]["n"] + 1
        left = None if left is None else left - len(chunk)


def result_count(conn, schema: str, batch_id: str) -> int:
    """How many result records a batch stored."""
    return conn.execute(statement(RESULT_COUNT, schema), {"batch_id": batch_id}).fetchone()["n"]

