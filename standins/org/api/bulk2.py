"""Bulk API 2.0: ingest jobs (a CSV upload written by the org's own rules) and query jobs (a CSV answer).

A job is processed when it is ready — an ingest job at `UploadComplete`, a query job when it is
created — so clients find it done at their first poll; a job left half-done by a stopped process
is finished by the next poll. Jobs live in Postgres (standins/org/bulk_jobs.py). These routes are
under /services/data, so the common hook checks the session and counts each call as an API request.

Daily allowances, as Salesforce counts them: an ingest job spends one DailyBulkApiBatches for every
10,000 records it processes (Salesforce makes a batch of every 10,000), and fails with the rest of
its records unprocessed once the allowance is spent; a query job spends one DailyBulkV2QueryJobs
and, for its stored answer, DailyBulkV2QueryFileStorageMB (whole MB, rounded up).
"""

import base64
import binascii
import csv
import math

from flask import Blueprint, Response, jsonify, request

from standins.org import bulk_csv, bulk_jobs, bulk_processing, limits, soql, store
from standins.org.api.common import BASE, USER_ID, body, record_body
from standins.org.bulk_jobs import BulkError
from standins.org.compiler import canonical_object_for_query
from standins.org.errors import SalesforceError, error_response

INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
# Salesforce takes 150 MB of base64 a request: about 112 MB of CSV.
MAX_UPLOAD_BYTES = 150 * 1024 * 1024 * 3 // 4
# Salesforce cuts an ingest job into batches of 10,000 records; each counts against DailyBulkApiBatches.
RECORDS_PER_BATCH = 10_000
LIST_PAGE = 1000
MB = 1024 * 1024
DONE = ("JobComplete", "Failed", "Aborted")


def _date(value) -> str:
    return store.format_datetime(value)


def info(job: dict, *, detail: bool = False, listed: bool = False) -> dict:
    """A job as Bulk API 2.0 describes it: on create and state changes, in a list, or in full (GET)."""
    ingest = job["job_type"] != "V2Query"
    out = {"id": job["id"], "operation": job["operation"], "object": job["object"], "createdById": USER_ID,
           "createdDate": _date(job["created_date"]), "systemModstamp": _date(job["system_modstamp"]),
           "state": job["state"]}
    if job["external_id_field"]:
        out["externalIdFieldName"] = job["external_id_field"]
    out.update(concurrencyMode=job["concurrency_mode"], contentType=job["content_type"],
               apiVersion=float(job["api_version"]))
    if detail or listed:
        out["jobType"] = job["job_type"]
    if ingest and not listed and job["job_type"] == "V2Ingest":
        out["contentUrl"] = f"services/data/v{job['api_version']}/jobs/ingest/{job['id']}/batches"
    out.update(lineEnding=job["line_ending"], columnDelimiter=job["column_delimiter"])
    if detail:
        ms = job["processing_ms"]
        out.update(numberRecordsProcessed=job["processed"])
        if ingest:
            out.update(numberRecordsFailed=job["failed"], retries=0, totalProcessingTime=ms,
                       apiActiveProcessingTime=ms, apexProcessingTime=0)
        else:
            out.update(retries=0, totalProcessingTime=ms, isPkChunkingSupported=True)
    if job["error_message"]:
        out["errorMessage"] = job["error_message"]
    return out


def _choice(data: dict, key: str, allowed, default: str) -> str:
    value = data.get(key) or default
    if value not in allowed:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {key} from VALUE_STRING "
                              f"value {value} or request may be missing a required field")
    return value


def _csv_options(data: dict) -> dict:
    if (data.get("contentType") or "CSV") != "CSV":
        raise BulkError("UnsupportedContentType", f"Unsupported content type: {data.get('contentType')}")
    return {"line_ending": _choice(data, "lineEnding", bulk_csv.LINE_ENDINGS, "LF"),
            "column_delimiter": _choice(data, "columnDelimiter", bulk_csv.DELIMITERS, "COMMA")}


def line_ending_problem(stream, expected: str) -> str | None:
    """Salesforce refuses data whose first line ends other than the job's lineEnding says."""
    head = stream.peek(64 * 1024)
    end = head.find(b"\n")
    if end < 0:
        return None
    crlf = end > 0 and head[end - 1:end] == b"\r"
    if crlf != (expected == "CRLF"):
        return f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {expected}"
    return None


def _locator(start: int) -> str:
    return base64.b64encode(str(start).encode()).decode()


def _unlocate(locator: str | None) -> int:
    if not locator:
        return 0
    try:
        return int(base64.b64decode(locator, validate=True).decode())
    except (ValueError, binascii.Error):
        raise BulkError("InvalidLocator", f"Invalid locator: {locator}") from None


def csv_response(lines, job: dict, headers=None) -> Response:
    """A streamed CSV answer in the job's line ending."""
    ending = bulk_csv.LINE_ENDINGS[job["line_ending"]]
    return Response((text + ending for text in lines), status=200, headers=headers or {},
                    content_type="text/csv; charset=UTF-8")


def init_app(app, org):
    """Register the Bulk API 2.0 routes."""
    bp = Blueprint("bulk2", __name__)
    ingest, query = BASE + "/jobs/ingest", BASE + "/jobs/query"

    @bp.errorhandler(BulkError)
    def _bulk_error(exc):
        code = "NOT_FOUND" if exc.kind == "NotFound" else exc.kind.upper()
        return error_response(SalesforceError(exc.status, code, exc.message))

    def load(job_id, job_type):
        with org.connection() as conn:
            return bulk_jobs.job(conn, org.schema, job_id, (job_type,))

    # ---- ingest ---------------------------------------------------------------------------------

    @bp.post(ingest)
    @bp.post(ingest + "/")
    def create_ingest(version):
        data = record_body()
        operation = data.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise BulkError("InvalidJob", f"Invalid operation: {operation}")
        obj = bulk_processing.sobject(data.get("object"))
        ext = bulk_processing.external_id_field(obj, data.get("externalIdFieldName")) if operation == "upsert" else None
        with org.connection() as conn:
            job = bulk_jobs.create_job(conn, org.schema, job_type="V2Ingest", operation=operation, object=obj,
                                       state="Open", external_id_field=ext, content_type="CSV",
                                       api_version=version, **_csv_options(data))
        return jsonify(info(job))

    @bp.put(ingest + "/<job_id>/batches")
    @bp.put(ingest + "/<job_id>/batches/")
    def upload(version, job_id):
        job = load(job_id, "V2Ingest")
        if (request.content_length or 0) > MAX_UPLOAD_BYTES:
            raise BulkError("ClientInputError", f"The upload exceeds the maximum of {MAX_UPLOAD_BYTES} bytes", 413)
        if job["state"] != "Open":
            raise BulkError("InvalidJobState", f"Upload is only allowed for jobs in Open state: job {job['id']} "
                            f"is {job['state']}")
        if job["batches"]:
            raise BulkError("InvalidJob", f"Found multiple contents for job: <{job['id']}>, please 'Close' / "
                            "'Abort' / 'Delete' the current Job then create a new Job and make sure you only do "
                            "'PUT' once on a given Job.")
        stream = bulk_csv.buffered(request.stream)
        problem = line_ending_problem(stream, job["line_ending"])
        rows = bulk_csv.reader(stream, job["column_delimiter"])
        with org.connection() as conn, conn.transaction():
            try:
                header = next(rows, None)
            except csv.Error as exc:
                raise BulkError("ClientInputError", f"Unable to parse the CSV data: {exc}") from None
            if header is None:
                raise BulkError("ClientInputError", "The upload is empty: a CSV header and records are required")
            problem = problem or bulk_processing.header_problem(job["object"], job["operation"], header)
            batch = bulk_jobs.create_batch(conn, org.schema, job["id"], "CSV", columns=header)
            try:
                bulk_jobs.add_rows(conn, org.schema, batch["id"], rows)
            except csv.Error as exc:
                raise BulkError("ClientInputError", f"Unable to parse the CSV data: {exc}") from None
            if problem:
                bulk_jobs.update_batch(conn, org.schema, batch["id"], "Failed", message=problem)
        return Response(status=201)

    def process_ingest(job):
        """Process an UploadComplete or InProgress job to its end (JobComplete or Failed)."""
        if job["state"] not in ("UploadComplete", "InProgress"):
            return
        with org.connection() as conn:
            found = bulk_jobs.batches(conn, org.schema, job["id"])
            if job["state"] == "UploadComplete":
                bulk_jobs.set_state(conn, org.schema, job["id"], "InProgress", ("UploadComplete", "InProgress"))
        if not found:
            finish(job, "Failed", "InvalidBatch : No data was uploaded for this job")
            return
        columns = found[0]["columns"]

        batch = bulk_processing.process_batch(
            org, job, found[0]["id"], lambda data: bulk_csv.record_values(columns, data),
            chunk_size=RECORDS_PER_BATCH, on_chunk=lambda conn: bulk_processing.spend_batch(conn, org.schema))
        if batch["state"] == "Completed":
            finish(job, "JobComplete")
        elif batch["state"] == "Failed":
            finish(job, "Failed", batch["state_message"])

    def finish(job, state, error=None):
        with org.connection() as conn:
            try:
                bulk_jobs.set_state(conn, org.schema, job["id"], state, ("UploadComplete", "InProgress"), error)
            except BulkError:
                pass  # aborted meanwhile: the abort stands

    @bp.patch(ingest + "/<job_id>")
    @bp.patch(ingest + "/<job_id>/")
    def change_ingest(version, job_id):
        job = load(job_id, "V2Ingest")
        state = (body() or {}).get("state")
        allowed = {"UploadComplete": ("Open",), "Aborted": ("Open", "UploadComplete", "InProgress")}
        if state not in allowed:
            raise BulkError("InvalidJobState", f"Invalid state: {state}. A job can be set to UploadComplete or "
                            "Aborted")
        with org.connection() as conn:
            bulk_jobs.set_state(conn, org.schema, job["id"], state, allowed[state])
            answer = bulk_jobs.job(conn, org.schema, job["id"], ("V2Ingest",))
        if state == "UploadComplete":
            process_ingest(answer)
        return jsonify(info(answer))

    @bp.get(ingest + "/<job_id>")
    @bp.get(ingest + "/<job_id>/")
    def ingest_info(version, job_id):
        process_ingest(load(job_id, "V2Ingest"))
        return jsonify(info(load(job_id, "V2Ingest"), detail=True))

    def ingest_results(job_id, which):
        job = load(job_id, "V2Ingest")
        with org.connection() as conn:
            found = bulk_jobs.batches(conn, org.schema, job["id"])
        columns = found[0]["columns"] if found else []
        prefix = {"success": ["sf__Id", "sf__Created"], "error": ["sf__Id", "sf__Error"], "unprocessed": []}[which]
        if which != "unprocessed" and job["state"] not in DONE:
            raise BulkError("InvalidJobState", f"Results are available once the job is complete: job {job['id']} "
                            f"is {job['state']}")
        delimiter = job["column_delimiter"]

        def lines():
            yield bulk_csv.line(prefix + columns, delimiter)
            if not found:
                return
            with org.connection() as conn:
                for row in bulk_jobs.rows(conn, org.schema, found[0]["id"], which):
                    yield bulk_csv.line(_result_cells(which, row) + row["data"], delimiter)

        return csv_response(lines(), job)

    for path, which in (("successfulResults", "success"), ("failedResults", "error"),
                        ("unprocessedrecords", "unprocessed"), ("unprocessedRecords", "unprocessed")):
        for suffix in ("", "/"):
            bp.add_url_rule(f"{ingest}/<job_id>/{path}{suffix}", f"{path}{suffix}",
                            lambda version, job_id, which=which: ingest_results(job_id, which))

    # ---- query ----------------------------------------------------------------------------------

    @bp.post(query)
    @bp.post(query + "/")
    def create_query(version):
        data = record_body()
        operation, text = data.get("operation"), data.get("query")
        if operation not in QUERY_OPERATIONS:
            raise BulkError("InvalidJob", f"Invalid operation: {operation}")
        if not text:
            raise BulkError("InvalidJob", "A query job needs a SOQL query")
        options = _csv_options(data)
        refused = bulk_processing.refusal(text, subqueries=False)
        if refused:
            raise SalesforceError(400, "API_ERROR", refused)
        match = bulk_processing.SELECT_LIST.match(text)
        if not match:
            raise soql.SoqlError("unexpected token: a query is SELECT … FROM …")
        obj = canonical_object_for_query(match.group(2))
        with org.connection() as conn:
            used, top = limits.spend(conn, org.schema, "DailyBulkV2QueryJobs", 1)
            if used > top:
                raise SalesforceError(400, "LIMIT_EXCEEDED", f"Max bulk v2 query jobs ({top}) per 24 hrs has been "
                                      f"reached ({used})")
            stored, most = limits.usage(conn, org.schema, "DailyBulkV2QueryFileStorageMB")
            if stored >= most:
                raise SalesforceError(400, "LIMIT_EXCEEDED", f"Max bulk v2 query result size stored ({most * 1024}) "
                                      "kb per 24 hrs has been exceeded")
            job = bulk_jobs.create_job(conn, org.schema, job_type="V2Query", operation=operation, object=obj,
                                       state="UploadComplete", content_type="CSV", api_version=version, query=text,
                                       **options)
            batch = bulk_jobs.create_batch(conn, org.schema, job["id"], "SOQL", soql=text)
        try:
            answered = bulk_processing.answer_query(org, batch["id"], text, operation == "queryAll", version,
                                              lambda record, columns: bulk_csv.record_line(record, columns,
                                                                                           job["column_delimiter"]))
        except (soql.SoqlError, SalesforceError):
            with org.connection() as conn:
                bulk_jobs.delete_job(conn, org.schema, job["id"])
            raise
        with org.connection() as conn:
            limits.spend(conn, org.schema, "DailyBulkV2QueryFileStorageMB", math.ceil(answered["result_bytes"] / MB))
            bulk_jobs.set_state(conn, org.schema, job["id"], "JobComplete", ("UploadComplete",))
        return jsonify(info(job))

    @bp.get(query + "/<job_id>")
    @bp.get(query + "/<job_id>/")
    def query_info(version, job_id):
        return jsonify(info(load(job_id, "V2Query"), detail=True))

    @bp.get(query + "/<job_id>/results")
    @bp.get(query + "/<job_id>/results/")
    def query_results(version, job_id):
        job = load(job_id, "V2Query")
        if job["state"] != "JobComplete":
            raise BulkError("InvalidJobState", f"Results are available once the job is complete: job {job['id']} "
                            f"is {job['state']}")
        start = _unlocate(request.args.get("locator"))
        most = request.args.get("maxRecords", type=int)
        with org.connection() as conn:
            batch = bulk_jobs.batches(conn, org.schema, job["id"])[0]
            total = bulk_jobs.result_count(conn, org.schema, batch["id"])
        count = max(0, total - start) if not most else max(0, min(most, total - start))
        following = start + count
        headers = {"Sforce-Locator": _locator(following) if following < total else "null",
                   "Sforce-NumberOfRecords": str(count)}

        def lines():
            yield bulk_csv.line(batch["columns"] or [], job["column_delimiter"])
            with org.connection() as conn:
                yield from bulk_jobs.results(conn, org.schema, batch["id"], start + 1, count)

        return csv_response(lines(), job, headers)

    @bp.patch(query + "/<job_id>")
    @bp.patch(query + "/<job_id>/")
    def change_query(version, job_id):
        job = load(job_id, "V2Query")
        state = (body() or {}).get("state")
        if state != "Aborted":
            raise BulkError("InvalidJobState", f"Invalid state: {state}. A query job can only be Aborted")
        with org.connection() as conn:
            bulk_jobs.set_state(conn, org.schema, job["id"], "Aborted", ("UploadComplete", "InProgress"))
            return jsonify(info(bulk_jobs.job(conn, org.schema, job["id"], ("V2Query",))))

    # ---- both -----------------------------------------------------------------------------------

    def delete(job_id, job_type):
        job = load(job_id, job_type)
        if job["state"] not in ("UploadComplete", *DONE):
            raise BulkError("InvalidJobState", f"A job can be deleted once its upload is complete: job {job['id']} "
                            f"is {job['state']}")
        with org.connection() as conn:
            bulk_jobs.delete_job(conn, org.schema, job["id"])
        return Response(status=204)

    bp.add_url_rule(ingest + "/<job_id>", "delete_ingest", lambda version, job_id: delete(job_id, "V2Ingest"),
                    methods=["DELETE"])
    bp.add_url_rule(query + "/<job_id>", "delete_query", lambda version, job_id: delete(job_id, "V2Query"),
                    methods=["DELETE"])

    def listing(version, path, job_types):
        wanted = request.args.get("jobType")
        if wanted:
            job_types = tuple(t for t in job_types if t == wanted)
        start = _unlocate(request.args.get("queryLocator"))
        with org.connection() as conn:
            found = bulk_jobs.jobs(conn, org.schema, job_types, concurrency_mode=request.args.get("concurrencyMode"))
        if request.args.get("isPkChunkingEnabled", "").lower() == "true":
            found = []  # the org never chunks by primary key
        page = found[start:start + LIST_PAGE]
        done = start + len(page) >= len(found)
        return jsonify({"done": done, "records": [info(j, listed=True) for j in page],
                        "nextRecordsUrl": None if done else
                        f"/services/data/v{version}/{path}?queryLocator={_locator(start + len(page))}"})

    bp.add_url_rule(ingest, "list_ingest", lambda version: listing(version, "jobs/ingest", ("V2Ingest", "Classic")))
    bp.add_url_rule(ingest + "/", "list_ingest_slash",
                    lambda version: listing(version, "jobs/ingest", ("V2Ingest", "Classic")))
    bp.add_url_rule(query, "list_query", lambda version: listing(version, "jobs/query", ("V2Query",)))
    bp.add_url_rule(query + "/", "list_query_slash", lambda version: listing(version, "jobs/query", ("V2Query",)))

    app.register_blueprint(bp)



def _result_cells(which: str, row: dict) -> list[str]:
    """The sf__ columns of an ingest result row."""
    if which == "success":
        return [row["record_id"], "true" if row["created"] else "false"]
    if which == "error":
        return [row["record_id"] or "", bulk_csv.error_text(row["error"])]
    return []
