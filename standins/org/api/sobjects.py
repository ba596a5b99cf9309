"""REST data: org-wide resources (limits, describeGlobal), describe, one record, and the changes windows.

describeGlobal and describe answer `If-Modified-Since` with 304 when the describe data has not
changed since (it changes only with its files), as Salesforce does for unchanged metadata.
"""

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from flask import Response, jsonify, request
from psycopg import sql

from standins.org import describe as schema
from standins.org import limits, soql, store
from standins.org.api.common import BASE, COLLECTION_LIMIT, record_body
from standins.org.errors import SalesforceError

# What getUpdated / getDeleted list: records changed (or deleted) in [start, end), oldest first.
CHANGED_BETWEEN = """
SELECT id, {at} AS at FROM {s}.records
 WHERE object = %s AND {deleted} AND {at} >= %s AND {at} < %s
 ORDER BY {at}, id
"""
EARLIEST_DELETE = "SELECT min(deleted_date) AS d FROM {}.records WHERE object = %s"
# `sobjects/<Type>/` lists the user's recent items: here, the few most recently changed records.
RECENT_ITEMS = """
SELECT * FROM {}.records WHERE object = %s AND NOT is_deleted
 ORDER BY system_modstamp DESC, id DESC LIMIT %s
"""
RECENT_ITEMS_SHOWN = 5
# How far back getUpdated and getDeleted reach (the recycle bin keeps deleted records 15 days).
UPDATED_DAYS, DELETED_DAYS = 30, 15


def _minute(value: datetime) -> datetime:
    """A time without its seconds: Salesforce ignores them in a replication window."""
    return value.replace(second=0, microsecond=0)


def replication_window(args, days: int) -> tuple[datetime, datetime]:
    """(start, end) of a getUpdated/getDeleted request, to the minute, as naive UTC.

    INVALID_REPLICATION_DATE unless start precedes end and lies within the last `days` days.
    """
    try:
        start, end = (_minute(soql._datetime(args[k]).replace(tzinfo=None)) for k in ("start", "end"))
    except (KeyError, ValueError):
        raise SalesforceError(400, "INVALID_INPUT", "start and end must be ISO 8601 datetimes") from None
    if start >= end:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    earliest = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    if start < earliest:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", f"startDate is more than {days} days before today: "
                              f"changes are kept for {days} days")
    return start, end


def covered(end: datetime) -> datetime:
    """latestDateCovered: the window's end, or now (to the minute) if the end is still to come."""
    return min(end, _minute(datetime.now(UTC).replace(tzinfo=None)))


def _metadata_response(data):
    """A describe answer that a client's If-Modified-Since can turn into 304 Not Modified."""
    response = jsonify(data)
    response.last_modified = schema.last_modified()
    return response.make_conditional(request)

# A GET of another object's Id finds nothing, where a PATCH or DELETE of one is a malformed Id.
READ_UNAVAILABLE = {**store.UNAVAILABLE, "wrong_type": store.UNAVAILABLE["missing"]}


def init_app(app, org):
    """Register the sObject routes."""
    base = BASE

    @app.get(base + "/limits/")
    @app.get(base + "/limits")
    def org_limits(version):
        with org.connection() as conn:
            return jsonify(limits.report(conn, org.schema))

    @app.get(base + "/sobjects/")
    @app.get(base + "/sobjects")
    def describe_global(version):
        return _metadata_response({"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT, "sobjects": [
            schema.basic_info(name, version) for name in sorted(schema.objects())]})

    @app.get(base + "/sobjects/<obj>/describe/")
    @app.get(base + "/sobjects/<obj>/describe")
    def describe(version, obj):
        return _metadata_response(schema.describe_result(obj, version, f"https://{request.host}"))

    @app.get(base + "/sobjects/<obj>/")
    @app.get(base + "/sobjects/<obj>")
    def basic_info(version, obj):
        obj = schema.canonical_object(obj)
        recent = []
        if schema.describe(obj)["mruEnabled"]:
            with org.connection() as conn:
                rows = conn.execute(sql.SQL(RECENT_ITEMS).format(sql.Identifier(org.schema)),
                                    (obj, RECENT_ITEMS_SHOWN)).fetchall()
            shown = [n for n in ("Id", schema.name_field(obj)) if n]
            recent = [store.to_json(obj, r, shown) for r in rows]
        return jsonify({"objectDescribe": schema.basic_info(obj, version), "recentItems": recent})

    @app.post(base + "/sobjects/<obj>/")
    @app.post(base + "/sobjects/<obj>")
    def create(version, obj):
        obj = schema.canonical_object(obj)
        with org.connection() as conn, conn.transaction():
            record_id = store.create(conn, org.schema, obj, record_body())
        response = jsonify({"id": record_id, "success": True, "errors": []})
        response.status_code = 201
        response.headers["Location"] = f"/services/data/v{version}/sobjects/{obj}/{record_id}"
        return response

    @app.route(base + "/sobjects/<obj>/<record_id>", methods=["GET", "PATCH", "DELETE"])
    def one(version, obj, record_id):
        obj = schema.canonical_object(obj)
        with org.connection() as conn, conn.transaction():
            if request.method == "GET":
                try:
                    row = store.get(conn, org.schema, obj, record_id)
                except store.Unavailable as exc:
                    raise exc.answered(READ_UNAVAILABLE) from None
                fields = request.args.get("fields")
                names = [schema.field_of(obj, f.strip())["name"] for f in fields.split(",")] if fields else None
                return jsonify(store.to_json(obj, row, names))
            if request.method == "PATCH":
                store.update(conn, org.schema, obj, record_id, record_body())
            else:
                store.delete(conn, org.schema, obj, record_id)
        return Response(status=204)

    @app.route(base + "/sobjects/<obj>/<field>/<path:value>", methods=["GET", "PATCH"])
    def by_external_id(version, obj, field, value):
        obj = schema.canonical_object(obj)
        if field in ("updated", "deleted"):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        if raw:
            # simple-salesforce encodes the value with quote_plus ('+' for a space): decode it the same way.
            value = unquote_plus(raw.split("?", 1)[0].split(f"/{field}/", 1)[1])
        with org.connection() as conn, conn.transaction():
            if request.method == "GET":
                f = schema.field_of(obj, field)
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

    def changed_between(obj, column, *, deleted):
        """(object, start, end, records changed or deleted in the request's window) for getUpdated/getDeleted."""
        obj = schema.canonical_object(obj)
        start, end = replication_window(request.args, DELETED_DAYS if deleted else UPDATED_DAYS)
        with org.connection() as conn:
            rows = conn.execute(sql.SQL(CHANGED_BETWEEN).format(
                s=sql.Identifier(org.schema), at=sql.Identifier(column),
                deleted=sql.SQL("is_deleted" if deleted else "NOT is_deleted")), (obj, start, end)).fetchall()
        return obj, start, end, rows

    @app.get(base + "/sobjects/<obj>/updated/")
    @app.get(base + "/sobjects/<obj>/updated")
    def updated(version, obj):
        obj, start, end, rows = changed_between(obj, "system_modstamp", deleted=False)
        return jsonify({"ids": [r["id"] for r in rows], "latestDateCovered": store.format_datetime(covered(end))})

    @app.get(base + "/sobjects/<obj>/deleted/")
    @app.get(base + "/sobjects/<obj>/deleted")
    def deleted(version, obj):
        obj, start, end, rows = changed_between(obj, "deleted_date", deleted=True)
        with org.connection() as conn:
            earliest = conn.execute(sql.SQL(EARLIEST_DELETE).format(sql.Identifier(org.schema)), (obj,)).fetchone()["d"]
        return jsonify({
            "deletedRecords": [{"id": r["id"], "deletedDate": store.format_datetime(r["at"])} for r in rows],
            "earliestDateAvailable": store.format_datetime(earliest or start),
            "latestDateCovered": store.format_datetime(covered(end)),
        })
