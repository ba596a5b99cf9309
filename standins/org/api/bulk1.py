"""Bulk API 1.0 (/services/async/NN.N/job…): jobs and batches in XML, JSON or CSV.

What simple-salesforce's `sf.bulk` (JSON), jsforce's `conn.bulk` (XML jobs, CSV batches), Data Loader
and Heroku Connect speak. These routes are not under /services/data, so this module checks the
session itself (`X-SFDC-Session`, the same session ids) and counts each call as an API request, as
Salesforce does for Bulk API 1.0. Errors are Bulk 1.0's own: HTTP 400 with
`<error><exceptionCode>…</exceptionCode><exceptionMessage>…</exceptionMessage></error>` or the JSON
`{"exceptionCode", "exceptionMessage"}`.

A batch is processed as it is added — its records in chunks of 200, one transaction a chunk, as
Salesforce processes them — so its first status poll finds it Completed. Every batch added counts
against DailyBulkApiBatches, even one a closed job refuses, as Salesforce counts it.
"""

import csv
import json
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from flask import Blueprint, Response, g, request

from standins.org import bulk_csv, bulk_jobs, bulk_processing, limits, soql, store
from standins.org.api.common import USER_ID, bearer_token
from standins.org.bulk_jobs import BulkError
from standins.org.errors import SalesforceError

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ASYNC = "/services/async/<version>"
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
CONTENT_TYPES = ("CSV", "XML", "JSON")
# Salesforce processes a Bulk 1.0 batch 200 records at a time; a batch holds at most 10,000 records, 10 MB.
CHUNK = 200
MAX_RECORDS, MAX_BYTES = 10_000, 10_000_000
XML_TYPE, JSON_TYPE, CSV_TYPE = "application/xml", "application/json", "text/csv"


# ---- formats ------------------------------------------------------------------------------------

def wants_json(job: dict | None = None) -> bool:
    """JSON if the request speaks it (Content-Type or Accept), else the job's own content type."""
    spoken = (request.content_type or "") + " " + request.headers.get("Accept", "")
    if "json" in spoken:
        return True
    if "xml" in spoken or job is None:
        return False
    return job["content_type"] == "JSON"


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def xml_element(tag: str, fields: list[tuple], *, namespaced: bool = True) -> str:
    """`<tag xmlns=…><k>v</k>…</tag>`; None values are left out, lists repeat their element."""
    parts = []
    for key, value in fields:
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                parts.append(item if key is None else f"<{key}>{_value(item)}</{key}>")
    ns = f' xmlns="{NS}"' if namespaced else ""
    return f"<{tag}{ns}>{''.join(parts)}</{tag}>"


def answer(payload, job: dict | None = None, status: int = 200, *, xml_tag: str | None = None) -> Response:
    """A JSON or XML answer; `payload` is a dict (JSON) whose XML form is built by `xml_tag`'s element."""
    if wants_json(job):
        return Response(json.dumps(payload), status=status, content_type=JSON_TYPE)
    body = '<?xml version="1.0" encoding="UTF-8"?>' + xml_element(xml_tag, list(payload.items()))
    return Response(body, status=status, content_type=XML_TYPE)


def error_response(exc: BulkError) -> Response:
    """A Bulk 1.0 error: always HTTP 400 (as jsforce expects for InvalidSessionId), JSON or XML."""
    payload = {"exceptionCode": exc.kind, "exceptionMessage": exc.message}
    return answer(payload, status=400, xml_tag="error")


def _date(value, as_json: bool) -> str:
    text = store.format_datetime(value)
    return text if as_json else text[:-5] + "Z"


def job_info(job: dict) -> dict:
    """JobInfo, in Salesforce's order."""
    as_json = wants_json(job)
    info = {"id": job["id"], "operation": job["operation"], "object": job["object"], "createdById": USER_ID,
            "createdDate": _date(job["created_date"], as_json),
            "systemModstamp": _date(job["system_modstamp"], as_json), "state": job["state"],
            "externalIdFieldName": job["external_id_field"], "concurrencyMode": job["concurrency_mode"],
            "contentType": job["content_type"], "numberBatchesQueued": job["batches_queued"],
            "numberBatchesInProgress": job["batches_in_progress"],
            "numberBatchesCompleted": job["batches_completed"], "numberBatchesFailed": job["batches_failed"],
            "numberBatchesTotal": job["batches"], "numberRecordsProcessed": job["processed"], "numberRetries": 0,
            "apiVersion": float(job["api_version"]), "numberRecordsFailed": job["failed"],
            "totalProcessingTime": job["processing_ms"], "apiActiveProcessingTime": job["processing_ms"],
            "apexProcessingTime": 0}
    if as_json:
        info.update(assignmentRuleId=None, fastPathEnabled=False)
    return info


def batch_info(batch: dict, job: dict) -> dict:
    """BatchInfo, in Salesforce's order."""
    as_json = wants_json(job)
    return {"id": batch["id"], "jobId": batch["job_id"], "state": batch["state"],
            "stateMessage": batch["state_message"], "createdDate": _date(batch["created_date"], as_json),
            "systemModstamp": _date(batch["system_modstamp"], as_json),
            "numberRecordsProcessed": batch["processed"], "numberRecordsFailed": batch["failed"],
            "totalProcessingTime": batch["processing_ms"], "apiActiveProcessingTime": batch["processing_ms"],
            "apexProcessingTime": 0}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml(text: str) -> ElementTree.Element:
    """An XML request body; InvalidXML if it is not XML."""
    try:
        return ElementTree.fromstring(text.strip())
    except ElementTree.ParseError as exc:
        raise BulkError("InvalidXML", f"XML contained in the request body is invalid: {exc}") from None


def xml_record(element: ElementTree.Element) -> dict:
    """One `<sObject>` as a record body: nested elements are parents by external id, xsi:nil and fieldsToNull null."""
    out = {}
    for child in element:
        name = _local(child.tag)
        if name == "fieldsToNull":
            out[(child.text or "").strip()] = None
        elif child.get(f"{{{XSI}}}nil") == "true":
            out[name] = None
        elif len(child):
            out[name] = {_local(c.tag): c.text or "" for c in child if _local(c.tag) != "type"}
        else:
            out[name] = child.text or ""
    return out


def epoch_ms(kind: str, value):
    """Bulk 1.0 JSON query results give dates and datetimes as milliseconds since the epoch."""
    if value is None or kind not in ("date", "datetime"):
        return value
    stamp = soql._datetime(value if "T" in value else value + "T00:00:00Z")
    return int(stamp.timestamp() * 1000)


def json_record(record: dict) -> dict:
    """A REST record as Bulk 1.0 JSON query results write it (attributes kept, dates as epoch ms)."""
    obj = record["attributes"]["type"]
    out = {"attributes": {"type": obj, "url": record["attributes"].get("url")}}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            out[key] = json_record(value)
        else:
            kind = bulk_csv.cell(record, [key])[0]
            out[key] = epoch_ms(kind, value)
    return out


def xml_records(record: dict, tag: str = "records") -> str:
    """A REST record as Bulk 1.0 XML query results write it: `<records xsi:type="sObject"><type>…`."""
    parts = [f"<type>{escape(record['attributes']['type'])}</type>"]
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            parts.append(xml_records(value, key))
        elif value is None:
            parts.append(f'<{key} xsi:nil="true"/>')
        else:
            kind, _ = bulk_csv.cell(record, [key])
            parts.append(f"<{key}>{escape(bulk_csv.text(kind, value))}</{key}>")
    return f'<{tag} xsi:type="sObject">{"".join(parts)}</{tag}>'


RENDER = {"CSV": lambda record, columns: bulk_csv.record_line(record, columns),
          "JSON": lambda record, columns: json.dumps(json_record(record)),
          "XML": lambda record, columns: xml_records(record)}


# ---- the routes ---------------------------------------------------------------------------------

def init_app(app, org):
    """Register the Bulk API 1.0 routes."""
    bp = Blueprint("bulk1", __name__)

    @bp.errorhandler(BulkError)
    def _bulk_error(exc):
        return error_response(exc)

    @bp.errorhandler(SalesforceError)
    def _salesforce_error(exc):
        return error_response(BulkError("InvalidJob", exc.message))

    @bp.before_request
    def _session_and_count():
        token = request.headers.get("X-SFDC-Session", "").removeprefix("Bearer ").strip() or bearer_token()
        with org.connection() as conn:  # one connection for the session check and the count
            if not org.valid_session(token, conn):
                raise BulkError("InvalidSessionId", "Invalid session id")
            g.api_usage = limits.spend(conn, org.schema, "DailyApiRequests")
        if g.api_usage[0] > g.api_usage[1]:
            raise BulkError("ExceededQuota", "TotalRequests Limit exceeded.")

    def load(job_id):
        with org.connection() as conn:
            return bulk_jobs.job(conn, org.schema, job_id, ("Classic",))

    def load_batch(job, batch_id):
        with org.connection() as conn:
            for batch in bulk_jobs.batches(conn, org.schema, job["id"]):
                if batch["id"] == batch_id or batch["id"][:15] == batch_id:
                    return batch
        raise BulkError("InvalidBatch", f"Unable to find batch: {batch_id}")

    def request_fields() -> dict:
        text = request.get_data(as_text=True)
        if "json" in (request.content_type or ""):
            try:
                data = json.loads(text or "null")
            except ValueError as exc:
                raise BulkError("InvalidJob", f"Unable to parse the job: {exc}") from None
            if not isinstance(data, dict):
                raise BulkError("InvalidJob", "A jobInfo JSON object is required")
            return data
        return {_local(child.tag): (child.text or "").strip() for child in parse_xml(text)}

    @bp.post(ASYNC + "/job")
    @bp.post(ASYNC + "/job/")
    def create_job(version):
        data = request_fields()
        if request.headers.get("Sforce-Enable-PKChunking", "false").strip().lower() not in ("", "false"):
            raise BulkError("InvalidJob", "PK chunking (Sforce-Enable-PKChunking) is not supported by the local "
                            "org: create the job without that header")
        operation = data.get("operation")
        if operation not in OPERATIONS:
            raise BulkError("InvalidJob", f"Invalid operation: {operation}")
        obj = bulk_processing.sobject(data.get("object"))
        content_type = data.get("contentType") or "XML"
        if content_type not in CONTENT_TYPES:
            raise BulkError("InvalidJob", f"Unsupported content type: {content_type} (the local org reads CSV, XML "
                            "and JSON)")
        mode = {"0": "Parallel", "1": "Serial"}.get(str(data.get("concurrencyMode")), data.get("concurrencyMode"))
        if (mode or "Parallel") not in ("Parallel", "Serial"):
            raise BulkError("InvalidJob", f"Invalid concurrency mode: {mode}")
        ext = bulk_processing.external_id_field(obj, data.get("externalIdFieldName")) if operation == "upsert" else None
        with org.connection() as conn:
            job = bulk_jobs.create_job(conn, org.schema, job_type="Classic", operation=operation, object=obj,
                                       state="Open", external_id_field=ext, content_type=content_type,
                                       concurrency_mode=mode or "Parallel", api_version=version)
        return answer(job_info(job), job, 201, xml_tag="jobInfo")

    @bp.get(ASYNC + "/job/<job_id>")
    def get_job(version, job_id):
        job = load(job_id)
        return answer(job_info(job), job, xml_tag="jobInfo")

    @bp.post(ASYNC + "/job/<job_id>")
    def change_job(version, job_id):
        job = load(job_id)
        state = request_fields().get("state")
        allowed = {"Closed": ("Open",), "Aborted": ("Open", "Closed")}
        if state not in allowed:
            raise BulkError("InvalidJobState", f"Invalid state: {state}. A job can be Closed or Aborted")
        with org.connection() as conn:
            bulk_jobs.set_state(conn, org.schema, job["id"], state, allowed[state])
        job = load(job["id"])
        return answer(job_info(job), job, xml_tag="jobInfo")

    @bp.post(ASYNC + "/job/<job_id>/batch")
    def add_batch(version, job_id):
        job = load(job_id)
        with org.connection() as conn:
            bulk_processing.spend_batch(conn, org.schema)
        if job["state"] != "Open":
            raise BulkError("InvalidJobState", f"Job {job['id']} is {job['state']}: batches can be added to an Open "
                            "job only")
        if (request.content_length or 0) > MAX_BYTES:
            raise BulkError("InvalidBatch", f"Exceeded max size limit of {MAX_BYTES}")
        if job["operation"] in ("query", "queryAll"):
            batch = query_batch(job, request.get_data(as_text=True).strip(), version)
        else:
            batch = ingest_batch(job)
        return answer(batch_info(batch, job), job, 201, xml_tag="batchInfo")

    def ingest_batch(job):
        """Store an added batch's records and process them."""
        problem, columns = None, None
        if job["content_type"] == "CSV":
            records = bulk_csv.reader(bulk_csv.buffered(request.stream))
            try:
                columns = next(records, None) or []
            except csv.Error as exc:
                raise BulkError("InvalidBatch", f"Unable to parse the CSV batch: {exc}") from None
            problem = bulk_processing.header_problem(job["object"], job["operation"], columns)
        elif job["content_type"] == "JSON":
            try:
                records = json.loads(request.get_data(as_text=True) or "null")
            except ValueError as exc:
                raise BulkError("InvalidBatch", f"Unable to parse the JSON batch: {exc}") from None
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise BulkError("InvalidBatch", "A JSON batch is a list of records")
        else:
            records = [xml_record(e) for e in parse_xml(request.get_data(as_text=True))]
        with org.connection() as conn, conn.transaction():
            batch = bulk_jobs.create_batch(conn, org.schema, job["id"], job["content_type"], columns=columns)
            try:
                count = bulk_jobs.add_rows(conn, org.schema, batch["id"], records)
            except csv.Error as exc:
                raise BulkError("InvalidBatch", f"Unable to parse the CSV batch: {exc}") from None
            if count > MAX_RECORDS:
                problem = f"InvalidBatch : Records exceed the maximum of {MAX_RECORDS} in a batch: {count}"
            if problem:
                return bulk_jobs.update_batch(conn, org.schema, batch["id"], "Failed", message=problem)

        def to_values(data):
            return bulk_csv.record_values(columns, data) if columns is not None else dict(data)

        return bulk_processing.process_batch(org, job, batch["id"], to_values, chunk_size=CHUNK)

    def query_batch(job, text, version):
        """Run a query batch's SOQL and store its answer in the job's content type."""
        with org.connection() as conn:
            batch = bulk_jobs.create_batch(conn, org.schema, job["id"], "SOQL", soql=text)
        problem = bulk_processing.refusal(text, subqueries=job["content_type"] != "CSV")
        if problem:
            problem = f"FUNCTIONALITY_NOT_ENABLED: {problem}"
        else:
            try:
                return bulk_processing.answer_query(org, batch["id"], text, job["operation"] == "queryAll", version,
                                              RENDER[job["content_type"]])
            except soql.SoqlError as exc:
                problem = f"{exc.code}: {exc}"
            except SalesforceError as exc:
                problem = f"{exc.code}: {exc.message}"
        with org.connection() as conn:
            return bulk_jobs.update_batch(conn, org.schema, batch["id"], "Failed",
                                          message=f"InvalidBatch : Failed to process query: {problem}")

    @bp.get(ASYNC + "/job/<job_id>/batch")
    def list_batches(version, job_id):
        job = load(job_id)
        with org.connection() as conn:
            infos = [batch_info(b, job) for b in bulk_jobs.batches(conn, org.schema, job["id"])]
        if wants_json(job):
            return Response(json.dumps({"batchInfo": infos}), content_type=JSON_TYPE)
        body = "".join(xml_element("batchInfo", list(i.items()), namespaced=False) for i in infos)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{NS}">{body}</batchInfoList>',
                        content_type=XML_TYPE)

    @bp.get(ASYNC + "/job/<job_id>/batch/<batch_id>")
    def get_batch(version, job_id, batch_id):
        job = load(job_id)
        return answer(batch_info(load_batch(job, batch_id), job), job, xml_tag="batchInfo")

    @bp.get(ASYNC + "/job/<job_id>/batch/<batch_id>/request")
    def batch_request(version, job_id, batch_id):
        job = load(job_id)
        batch = load_batch(job, batch_id)

        def data():
            with org.connection() as conn:
                yield from (row["data"] for row in bulk_jobs.rows(conn, org.schema, batch["id"]))

        if batch["format"] == "SOQL":
            return Response(batch["soql"], content_type="text/plain")
        if batch["format"] == "CSV":
            lines = (bulk_csv.line(v) + "\n" for v in [batch["columns"], *data()])
            return Response(lines, content_type=CSV_TYPE)
        if batch["format"] == "JSON":
            return Response(json.dumps(list(data())), content_type=JSON_TYPE)
        body = "".join(xml_element("sObject", list(r.items()), namespaced=False) for r in data())
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><sObjects xmlns="{NS}">{body}</sObjects>',
                        content_type=XML_TYPE)

    @bp.get(ASYNC + "/job/<job_id>/batch/<batch_id>/result")
    def batch_result(version, job_id, batch_id):
        job = load(job_id)
        batch = load_batch(job, batch_id)
        if batch["state"] != "Completed" and not (batch["state"] == "Failed" and batch["processed"]):
            raise BulkError("InvalidBatch", f"Batch not completed: {batch['state_message'] or batch['state']}")
        if batch["format"] == "SOQL":
            if wants_json(job):
                return Response(json.dumps([batch["result_id"]]), content_type=JSON_TYPE)
            return Response(f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{NS}"><result>'
                            f'{batch["result_id"]}</result></result-list>', content_type=XML_TYPE)
        with org.connection() as conn:
            rows = list(bulk_jobs.rows(conn, org.schema, batch["id"]))
        return ingest_results(job, rows)

    @bp.get(ASYNC + "/job/<job_id>/batch/<batch_id>/result/<result_id>")
    def query_result(version, job_id, batch_id, result_id):
        job = load(job_id)
        batch = load_batch(job, batch_id)
        if batch["format"] != "SOQL" or batch["result_id"][:15] != result_id[:15]:
            raise BulkError("InvalidBatch", f"Unable to find result: {result_id}")

        def bodies():
            with org.connection() as conn:
                yield from bulk_jobs.results(conn, org.schema, batch["id"])

        kind = job["content_type"]
        if kind == "CSV":
            return Response((text + "\n" for text in [bulk_csv.line(batch["columns"] or []), *bodies()]),
                            content_type=CSV_TYPE)
        if kind == "JSON":
            return Response(_joined("[", bodies(), ",", "]"), content_type=JSON_TYPE)
        return Response(_joined(f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}" xmlns:xsi="{XSI}">',
                                bodies(), "", "</queryResult>"), content_type=XML_TYPE)

    @bp.route(ASYNC + "/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unknown(version, rest):
        raise BulkError("InvalidUrl", f"Unknown URL: {request.path}")

    app.register_blueprint(bp)


def _joined(opening: str, items, separator: str, closing: str):
    """Stream `opening item separator item … closing`."""
    yield opening
    for i, item in enumerate(items):
        yield (separator if i else "") + item
    yield closing


def ingest_results(job: dict, rows: list[dict]) -> Response:
    """A batch's per-record results, in input order, in the job's content type."""
    def errors(row):
        e = row["error"]
        return [] if e is None else [{"message": e["message"], "fields": e["fields"], "statusCode": e["statusCode"],
                                      "extendedErrorDetails": None}]

    if job["content_type"] == "CSV" and not wants_json(job):
        lines = [bulk_csv.line(["Id", "Success", "Created", "Error"])] + [
            bulk_csv.line([r["record_id"] or "", str(r["outcome"] == "success").lower(),
                           str(bool(r["created"])).lower(), bulk_csv.error_text(r["error"]) if r["error"] else ""])
            for r in rows]
        return Response("".join(text + "\n" for text in lines), content_type=CSV_TYPE)
    results = [{"success": r["outcome"] == "success", "created": bool(r["created"]), "id": r["record_id"],
                "errors": errors(r)} for r in rows]
    if job["content_type"] == "JSON" or wants_json(job):
        return Response(json.dumps(results), content_type=JSON_TYPE)
    body = "".join(
        xml_element("result", [("id", r["id"]), ("success", r["success"]), ("created", r["created"])] + [
            (None, xml_element("errors", list(e.items())[:3], namespaced=False)) for e in r["errors"]],
            namespaced=False) for r in results)
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><results xmlns="{NS}">{body}</results>',
                    content_type=XML_TYPE)
