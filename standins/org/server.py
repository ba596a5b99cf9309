"""The local org's HTTP API: the Salesforce REST subset simple-salesforce uses, on loopback.

Every answer carries `Sforce-Limit-Info: api-usage=N/MAX`; each /services/data call counts against
a daily maximum (LOCAL_ORG_DAILY_API_LIMIT, default 15,000) and answers 403 REQUEST_LIMIT_EXCEEDED
once it is spent, as a real org does. Errors are JSON lists shaped like Salesforce's.
"""

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from datetime import datetime, timedelta
from urllib.parse import unquote_plus
from xml.sax.saxutils import escape

from flask import Flask, Response, g, jsonify, request
from psycopg import sql

from core import db
from standins.org import metadata, soql, store, views
from standins.org.store import SalesforceError

API_VERSION = "59.0"
ORG_ID = "00D000000000001EAA"
PAGE_SIZE = 2000
COLLECTION_LIMIT = 200
log = logging.getLogger(__name__)


_ADD_SETTING = "INSERT INTO {}.settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"
# What getUpdated / getDeleted list: records changed (or deleted) in [start, end), oldest first.
CHANGED_BETWEEN = """
SELECT id, {at} AS at FROM {s}.records
 WHERE object = %s AND {deleted} AND {at} >= %s AND {at} < %s
 ORDER BY {at}, id
"""


class Org:
    """The org's state in Postgres: records, API usage, settings (so a restart changes nothing)."""

    def __init__(self, database_url: str, schema: str = "local_org", daily_api_limit: int | None = None):
        self.database_url, self.schema = database_url, schema
        with db.connect(database_url) as conn:
            store.ensure_schema(conn, schema)
            if daily_api_limit is not None:
                self.set_setting(conn, "daily_api_limit", str(daily_api_limit), overwrite=False)
            self.secret = self.set_setting(conn, "session_secret", secrets.token_hex(32), overwrite=False)

    def connection(self):
        """A pooled connection to the org's database."""
        return db.connection(self.database_url, size=4, name="local-org")

    def set_setting(self, conn, key, value, *, overwrite=True) -> str:
        """Store a setting; return the value now in force."""
        s = sql.Identifier(self.schema)
        statement = store.SET_SETTING if overwrite else _ADD_SETTING
        conn.execute(sql.SQL(statement).format(s), (key, value, value) if overwrite else (key, value))
        return conn.execute(sql.SQL("SELECT value FROM {}.settings WHERE key = %s").format(s), (key,)).fetchone()[
            "value"]

    def api_limit(self, conn) -> int:
        """Today's maximum number of API requests."""
        row = conn.execute(sql.SQL("SELECT value FROM {}.settings WHERE key = 'daily_api_limit'").format(
            sql.Identifier(self.schema))).fetchone()
        return int(row["value"]) if row else int(os.environ.get("LOCAL_ORG_DAILY_API_LIMIT", "15000"))

    def count_request(self, conn) -> tuple[int, int, bool]:
        """Count one API request; return (used, max, allowed)."""
        limit = self.api_limit(conn)
        row = conn.execute(sql.SQL(
            "INSERT INTO {}.api_usage AS u (day, used) VALUES ((now() AT TIME ZONE 'UTC')::date, 1) "
            "ON CONFLICT (day) DO UPDATE SET used = u.used + 1 RETURNING used").format(sql.Identifier(self.schema))
        ).fetchone()
        return row["used"], limit, row["used"] <= limit

    def usage(self, conn) -> tuple[int, int]:
        """(used today, max)."""
        row = conn.execute(sql.SQL(
            "SELECT used FROM {}.api_usage WHERE day = (now() AT TIME ZONE 'UTC')::date").format(
            sql.Identifier(self.schema))).fetchone()
        return (row["used"] if row else 0), self.api_limit(conn)

    def set_usage(self, conn, used: int) -> None:
        """Set today's usage (tests; "the limit resets at midnight")."""
        conn.execute(sql.SQL(
            "INSERT INTO {}.api_usage (day, used) VALUES ((now() AT TIME ZONE 'UTC')::date, %s) "
            "ON CONFLICT (day) DO UPDATE SET used = EXCLUDED.used").format(sql.Identifier(self.schema)), (used,))

    def session_id(self, username: str) -> str:
        """A session id the org can verify after a restart (signed, not stored)."""
        payload = base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")
        sig = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{ORG_ID}!{payload}.{sig}"

    def valid_session(self, token: str) -> bool:
        """Whether a bearer token is a session this org issued."""
        m = re.match(r"^" + ORG_ID + r"!([A-Za-z0-9_-]+)\.([0-9a-f]{32})$", token or "")
        if not m:
            return False
        expected = hmac.new(self.secret.encode(), m.group(1).encode(), hashlib.sha256).hexdigest()[:32]
        return hmac.compare_digest(expected, m.group(2))


def _error(exc: SalesforceError):
    response = jsonify(exc.body())
    response.status_code = exc.status
    return response


def _locator(query: str, offset: int, include_deleted: bool) -> str:
    # The paging state travels in the locator itself: any org process can serve the next page.
    raw = json.dumps({"q": query, "o": offset, "all": include_deleted}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unlocate(locator: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)))
    except (ValueError, TypeError):
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None


def create_org_app(org: Org) -> Flask:
    """The Flask app that answers as Salesforce would."""
    app = Flask(__name__)
    app.config["ORG"] = org
    base = "/services/data/v<version>"

    @app.before_request
    def _authenticate_and_count():
        if not request.path.startswith("/services/data/"):
            return None
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").removeprefix("OAuth ").strip()
        if not org.valid_session(token):
            return _error(SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        with org.connection() as conn:
            used, limit, allowed = org.count_request(conn)
        g.api_usage = (used, limit)
        if not allowed:
            return _error(SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
        return None

    @app.after_request
    def _limit_header(response):
        if "api_usage" not in g:
            with org.connection() as conn:
                g.api_usage = org.usage(conn)
        used, limit = g.api_usage
        response.headers["Sforce-Limit-Info"] = f"api-usage={min(used, limit)}/{limit}"
        return response

    @app.errorhandler(SalesforceError)
    def _salesforce_error(exc):
        return _error(exc)

    @app.errorhandler(soql.SoqlError)
    def _soql_error(exc):
        return _error(SalesforceError(400, exc.code, str(exc)))

    @app.errorhandler(404)
    def _not_found(_exc):
        return _error(SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: {request.path}"))

    @app.errorhandler(405)
    def _method(_exc):
        return _error(SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                                      f"Allowed are {', '.join(_exc.valid_methods or [])}"))

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("local org: unexpected error")
        return _error(SalesforceError(500, "UNKNOWN_EXCEPTION", f"An unexpected error occurred: {type(exc).__name__}"))

    def body() -> dict | list:
        try:
            data = json.loads(request.get_data(as_text=True) or "null")
        except ValueError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {exc}") from None
        return data

    def record_body() -> dict:
        data = body()
        if not isinstance(data, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object as the request body")
        return data

    # ---- login ------------------------------------------------------------------------------------

    @app.post("/services/Soap/u/<version>")
    def soap_login(version):
        text = request.get_data(as_text=True)
        username = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", text, re.S)
        password = re.search(r"<(?:\w+:)?password>(.*?)</(?:\w+:)?password>", text, re.S)
        expected = os.environ.get("LOCAL_ORG_PASSWORD")
        if not username or (expected and (not password or password.group(1) != expected)):
            fault = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv="
                     "\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><soapenv:Fault>"
                     "<faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, "
                     "security token; or user locked out.</faultstring></soapenv:Fault></soapenv:Body>"
                     "</soapenv:Envelope>")
            return Response(fault, status=500, content_type="text/xml")
        host = request.host
        session = org.session_id(username.group(1))
        envelope = (
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
            "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"urn:partner.soap.sforce.com\">"
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>https://{host}/services/Soap/m/{version}/{ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>https://{host}/services/Soap/u/{version}/{ORG_ID}</serverUrl>"
            f"<sessionId>{escape(session)}</sessionId><userId>005000000000001AAA</userId>"
            f"<userInfo><organizationId>{ORG_ID}</organizationId><userName>{escape(username.group(1))}</userName>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(envelope, content_type="text/xml")

    # ---- org-wide ---------------------------------------------------------------------------------

    @app.get(base + "/limits/")
    @app.get(base + "/limits")
    def limits(version):
        used, limit = g.api_usage
        return jsonify({"DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)}})

    @app.get(base + "/sobjects/")
    @app.get(base + "/sobjects")
    def describe_global(version):
        keys = ("name", "label", "labelPlural", "keyPrefix", "custom", "createable", "updateable", "deletable",
                "queryable")
        return jsonify({"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT,
                        "sobjects": [{k: o[k] for k in keys} for o in store.objects().values()]})

    @app.get(base + "/sobjects/<obj>/describe/")
    @app.get(base + "/sobjects/<obj>/describe")
    def describe(version, obj):
        return jsonify(store.describe(obj))

    # ---- one record -------------------------------------------------------------------------------

    @app.post(base + "/sobjects/<obj>/")
    @app.post(base + "/sobjects/<obj>")
    def create(version, obj):
        obj = store.canonical_object(obj)
        with org.connection() as conn, conn.transaction():
            record_id = store.create(conn, org.schema, obj, record_body())
        response = jsonify({"id": record_id, "success": True, "errors": []})
        response.status_code = 201
        return response

    @app.route(base + "/sobjects/<obj>/<record_id>", methods=["GET", "PATCH", "DELETE"])
    def one(version, obj, record_id):
        obj = store.canonical_object(obj)
        with org.connection() as conn, conn.transaction():
            if request.method == "GET":
                row = store.get(conn, org.schema, obj, record_id)
                fields = request.args.get("fields")
                names = [store.field_of(obj, f.strip())["name"] for f in fields.split(",")] if fields else None
                return jsonify(store.to_json(obj, row, names))
            if request.method == "PATCH":
                store.update(conn, org.schema, obj, record_id, record_body())
            else:
                store.delete(conn, org.schema, obj, record_id)
        return Response(status=204)

    @app.route(base + "/sobjects/<obj>/<field>/<path:value>", methods=["GET", "PATCH"])
    def by_external_id(version, obj, field, value):
        obj = store.canonical_object(obj)
        if field in ("updated", "deleted"):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        if raw:
            # simple-salesforce encodes the value with quote_plus ('+' for a space): decode it the same way.
            value = unquote_plus(raw.split("?", 1)[0].split(f"/{field}/", 1)[1])
        with org.connection() as conn, conn.transaction():
            if request.method == "GET":
                f = store.field_of(obj, field)
                rows = store.find_by(conn, org.schema, obj, f["name"], value)
                if not rows:
                    raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
                if len(rows) > 1:
                    response = jsonify([f"/services/data/v{version}/sobjects/{obj}/{r['id']}" for r in rows])
                    response.status_code = 300
                    return response
                return jsonify(store.to_json(obj, rows[0]))
            record_id, created = store.upsert(conn, org.schema, obj, field, value, record_body())
        response = jsonify({"id": record_id, "success": True, "errors": [], "created": created})
        response.status_code = 201 if created else 200
        return response

    # ---- changes ----------------------------------------------------------------------------------

    def window():
        try:
            start = soql._datetime(request.args["start"])
            end = soql._datetime(request.args["end"])
        except (KeyError, ValueError):
            raise SalesforceError(400, "INVALID_INPUT", "start and end must be ISO 8601 datetimes") from None
        if end < start:
            raise SalesforceError(400, "INVALID_REPLICATION_DATE", "end date is before start date")
        return start.replace(tzinfo=None), end.replace(tzinfo=None)

    def changed_between(obj, column, *, deleted):
        """(object, start, end, records changed or deleted in the request's window) for getUpdated/getDeleted."""
        obj = store.canonical_object(obj)
        start, end = window()
        with org.connection() as conn:
            rows = conn.execute(sql.SQL(CHANGED_BETWEEN).format(
                s=sql.Identifier(org.schema), at=sql.Identifier(column),
                deleted=sql.SQL("is_deleted" if deleted else "NOT is_deleted")), (obj, start, end)).fetchall()
        return obj, start, end, rows

    @app.get(base + "/sobjects/<obj>/updated/")
    @app.get(base + "/sobjects/<obj>/updated")
    def updated(version, obj):
        obj, start, end, rows = changed_between(obj, "system_modstamp", deleted=False)
        latest = max([r["at"] for r in rows], default=end)
        return jsonify({"ids": [r["id"] for r in rows], "latestDateCovered": store.format_datetime(latest)})

    @app.get(base + "/sobjects/<obj>/deleted/")
    @app.get(base + "/sobjects/<obj>/deleted")
    def deleted(version, obj):
        obj, start, end, rows = changed_between(obj, "deleted_date", deleted=True)
        with org.connection() as conn:
            earliest = conn.execute(sql.SQL("SELECT min(deleted_date) AS d FROM {}.records WHERE object = %s").format(
                sql.Identifier(org.schema)), (obj,)).fetchone()["d"]
        return jsonify({
            "deletedRecords": [{"id": r["id"], "deletedDate": store.format_datetime(r["at"])} for r in rows],
            "earliestDateAvailable": store.format_datetime(earliest or start),
            "latestDateCovered": store.format_datetime(end),
        })

    # ---- SOQL -------------------------------------------------------------------------------------

    def run_query(text: str, offset: int, include_deleted: bool, version: str):
        q = soql.parse(text)
        obj, statement, names = store.compile_query(q, org.schema, include_deleted=include_deleted)
        first = q.offset + offset
        end = None if q.limit is None else q.offset + q.limit
        with org.connection() as conn:
            if q.count:
                count = conn.execute(sql.SQL("SELECT count(*) AS n FROM ({}) AS q").format(statement)).fetchone()["n"]
                count = max(0, min(count, end or count) - q.offset)
                return {"totalSize": count, "done": True, "records": []}
            total = conn.execute(sql.SQL("SELECT count(*) AS n FROM ({}) AS q").format(statement)).fetchone()["n"]
            total = max(0, (min(total, end) if end is not None else total) - q.offset)
            page = PAGE_SIZE if end is None else max(0, min(PAGE_SIZE, end - first))
            rows = conn.execute(statement + sql.SQL(" LIMIT {} OFFSET {}").format(
                sql.Literal(page), sql.Literal(first))).fetchall()
        result = {"totalSize": total, "done": offset + len(rows) >= total,
                  "records": [store.to_json(obj, r, names) for r in rows]}
        if not result["done"]:
            result["nextRecordsUrl"] = (f"/services/data/v{version}/{'queryAll' if include_deleted else 'query'}/"
                                        f"{_locator(text, offset + len(rows), include_deleted)}-{offset + len(rows)}")
        return result

    @app.get(base + "/query/")
    @app.get(base + "/query")
    @app.get(base + "/queryAll/")
    @app.get(base + "/queryAll")
    def query(version):
        text = request.args.get("q")
        if text is None:
            raise SalesforceError(400, "MALFORMED_QUERY", "The q parameter is required")
        return jsonify(run_query(text, 0, request.path.rstrip("/").endswith("queryAll"), version))

    @app.get(base + "/query/<locator>")
    @app.get(base + "/queryAll/<locator>")
    def query_more(version, locator):
        state = _unlocate(locator.rsplit("-", 1)[0])
        return jsonify(run_query(state["q"], state["o"], state["all"], version))

    # ---- sObject Collections ------------------------------------------------------------------------

    def collection(records, action):
        if not isinstance(records, list):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a list")
        if len(records) > COLLECTION_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                  f"{COLLECTION_LIMIT} records into this call")
        return records

    def run_collection(items, all_or_none, apply):
        """Apply each item in its own savepoint; with allOrNone, one failure rolls all back."""
        results, failed = [], False
        with org.connection() as conn, conn.transaction() as outer:
            for item in items:
                try:
                    with conn.transaction():
                        results.append({"success": True, "errors": [], **apply(conn, item)})
                except SalesforceError as exc:
                    failed = True
                    results.append({"id": None, "success": False, "errors": [
                        {"statusCode": exc.code, "message": exc.message, "fields": exc.fields}]})
            if failed and all_or_none:
                for r in results:
                    if r["success"]:
                        r.update(success=False, id=None, errors=[{
                            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "message": "Record rolled back because not all records were valid and the request was "
                                       "using AllOrNone header", "fields": []}])
                raise _Rollback(results) from None
            _ = outer
        return results

    class _Rollback(Exception):
        def __init__(self, results):
            self.results = results

    @app.errorhandler(_Rollback)
    def _rolled_back(exc):
        return jsonify(exc.results)

    def record_type(item):
        if not isinstance(item, dict) or not isinstance(item.get("attributes"), dict):
            raise SalesforceError(400, "INVALID_FIELD", "each record needs attributes.type")
        return store.canonical_object(item["attributes"].get("type", ""))

    @app.route(base + "/composite/sobjects", methods=["POST", "PATCH", "DELETE"])
    def composite(version):
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            collection(ids, "delete")
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"

            def remove(conn, record_id):
                obj = store.key_prefix_object(record_id)
                if obj is None:
                    raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
                try:
                    store.delete(conn, org.schema, obj, record_id)
                except SalesforceError:
                    raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted") from None
                return {"id": store.full_id(record_id)}

            return jsonify(run_collection(ids, all_or_none, remove))
        data = record_body()
        records = collection(data.get("records"), request.method)
        all_or_none = bool(data.get("allOrNone"))

        def apply(conn, item):
            obj = record_type(item)
            values = {k: v for k, v in item.items() if k != "attributes"}
            if request.method == "POST":
                if "Id" in values:
                    raise SalesforceError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                return {"id": store.create(conn, org.schema, obj, values)}
            record_id = values.pop("Id", None)
            if not record_id:
                raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            store.update(conn, org.schema, obj, record_id, values)
            return {"id": store.full_id(record_id)}

        return jsonify(run_collection(records, all_or_none, apply))

    @app.patch(base + "/composite/sobjects/<obj>/<field>")
    def composite_upsert(version, obj, field):
        obj = store.canonical_object(obj)
        data = record_body()
        records = collection(data.get("records"), "upsert")
        all_or_none = bool(data.get("allOrNone"))
        ext = store.field_of(obj, field)["name"]

        def apply(conn, item):
            if record_type(item) != obj:
                raise SalesforceError(400, "INVALID_FIELD", f"every record must be a {obj}")
            values = {k: v for k, v in item.items() if k != "attributes"}
            key = next((v for k, v in values.items() if k.lower() == ext.lower()), None)
            if key in (None, ""):
                raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{ext}]", [ext])
            record_id, created = store.upsert(conn, org.schema, obj, ext, key, values)
            return {"id": record_id, "created": created}

        return jsonify(run_collection(records, all_or_none, apply))

    views.init_app(app, org)
    metadata.init_app(app, org)
    return app


def stamp_window(minutes: int = 5) -> tuple[datetime, datetime]:
    """A window around now, for callers of updated/ and deleted/ in tests."""
    now = datetime.utcnow()
    return now - timedelta(minutes=minutes), now + timedelta(minutes=1)
