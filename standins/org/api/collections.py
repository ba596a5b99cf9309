"""sObject Collections: up to 200 records created, updated, upserted or deleted in one call; up to 2,000 read.

Results come back in input order, one per record, with `statusCode` in their errors (not the
`errorCode` of REST errors). Within a composite request with allOrNone, the composite's flag wins
over the collection's own, as in Salesforce.
"""

from flask import jsonify, request

from standins.org import describe as schema
from standins.org import store
from standins.org.api.common import BASE, COLLECTION_LIMIT, COMPOSITE_ALL_OR_NONE, body, record_body
from standins.org.errors import SalesforceError
from standins.org.ids import canonical_id

# A retrieve takes at most this many Ids (a GET fewer: about 800 fit in a URL).
RETRIEVE_LIMIT = 2000
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all "
               "records were valid and the request was using AllOrNone header", "fields": []}
# How a collection answers, per record, an Id that names no live record (store.UNAVAILABLE's reasons).
_WRONG_ID = (400, "MALFORMED_ID", "{label} ID: id value of incorrect type: {id}", ["Id"])
_NO_RECORD = (400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
_DELETED = (400, "ENTITY_IS_DELETED", "entity is deleted", [])
UPDATE_UNAVAILABLE = {"malformed": _WRONG_ID, "wrong_type": _WRONG_ID, "missing": _NO_RECORD, "deleted": _DELETED}
DELETE_UNAVAILABLE = {"malformed": (400, "MALFORMED_ID", "malformed id {id}", []), "wrong_type": _NO_RECORD,
                      "missing": _NO_RECORD, "deleted": _DELETED}


class _Rollback(Exception):
    """allOrNone and a record failed: undo the whole call, answer these results."""

    def __init__(self, results):
        self.results = results


def _records(data) -> list:
    """The `records` of a collection body, each with a known type; at most 200 of them."""
    records = data.get("records")
    if not isinstance(records, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a list")
    _within_limit(records)
    for item in records:
        _record_type(item)
    return records


def _within_limit(items):
    if len(items) > COLLECTION_LIMIT:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                              f"{COLLECTION_LIMIT} records into this call")


def _record_type(item) -> str:
    """The record's attributes.type as the API name; a request without one is refused as a whole."""
    kind = item.get("attributes", {}).get("type") if isinstance(item, dict) else None
    if not isinstance(kind, str) or not kind:
        raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    try:
        return schema.canonical_object(kind)
    except SalesforceError:
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.") from None


def _all_or_none(flag) -> bool:
    return bool(flag) or bool(request.environ.get(COMPOSITE_ALL_OR_NONE))


def _fields_of(item) -> dict:
    return {k: v for k, v in item.items() if k != "attributes"}


def init_app(app, org):
    """Register the collection routes."""
    base = BASE

    def run_collection(items, all_or_none, apply):
        """Apply each item in its own savepoint; with allOrNone, one failure rolls all back."""
        results, failed = [], False
        with org.connection() as conn, conn.transaction():
            for item in items:
                try:
                    with conn.transaction():
                        results.append({**apply(conn, item), "success": True, "errors": []})
                except SalesforceError as exc:
                    failed = True
                    results.append({"success": False, "errors": [
                        {"statusCode": exc.code, "message": exc.message, "fields": exc.fields}]})
            if failed and all_or_none:
                results = [r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]} for r in results]
                raise _Rollback(results)
        return results

    @app.errorhandler(_Rollback)
    def _rolled_back(exc):
        return jsonify(exc.results)

    @app.route(base + "/composite/sobjects", methods=["POST", "PATCH", "DELETE"])
    def composite(version):
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            _within_limit(ids)

            def remove(conn, record_id):
                obj = schema.key_prefix_object(canonical_id(record_id) or "")
                try:
                    if obj is None:
                        raise store.Unavailable("malformed", None, record_id)
                    return {"id": store.delete(conn, org.schema, obj, record_id)}
                except store.Unavailable as exc:
                    raise exc.answered(DELETE_UNAVAILABLE) from None

            return jsonify(run_collection(ids, _all_or_none(request.args.get("allOrNone", "").lower() == "true"),
                                          remove))
        data = record_body()
        records = _records(data)

        def insert(conn, item):
            values = _fields_of(item)
            if any(k.lower() == "id" for k in values):
                raise SalesforceError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return {"id": store.create(conn, org.schema, _record_type(item), values)}

        def change(conn, item):
            obj, values = _record_type(item), _fields_of(item)
            ids = [values.pop(k) for k in [k for k in values if k.lower() == "id"]]  # `Id`, `id`, `ID`: any case
            if not ids or not ids[0]:
                raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            try:
                return {"id": store.update(conn, org.schema, obj, ids[0], values)}
            except store.Unavailable as exc:
                raise exc.answered(UPDATE_UNAVAILABLE) from None

        apply = insert if request.method == "POST" else change
        return jsonify(run_collection(records, _all_or_none(data.get("allOrNone")), apply))

    @app.patch(base + "/composite/sobjects/<obj>/<field>")
    def composite_upsert(version, obj, field):
        obj = schema.canonical_object(obj)
        data = record_body()
        records = _records(data)
        ext = schema.field_of(obj, field)["name"]

        def apply(conn, item):
            if _record_type(item) != obj:
                raise SalesforceError(400, "INVALID_FIELD", f"every record must be a {obj}")
            values = _fields_of(item)
            key = next((v for k, v in values.items() if k.lower() == ext.lower()), None)
            if key in (None, ""):
                raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{ext}]", [ext])
            record_id, created = store.upsert(conn, org.schema, obj, ext, key, values)
            return {"id": record_id, "created": created}

        return jsonify(run_collection(records, _all_or_none(data.get("allOrNone")), apply))

    @app.route(base + "/composite/sobjects/<obj>", methods=["GET", "POST"])
    def retrieve(version, obj):
        """Several records of one object by Id: a list in input order, null where an Id finds none."""
        obj = schema.canonical_object(obj)
        if request.method == "GET":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            names = [f for f in request.args.get("fields", "").split(",") if f]
        else:
            data = body()
            data = data if isinstance(data, dict) else {}
            ids, names = data.get("ids"), data.get("fields")
            if not isinstance(ids, list) or not isinstance(names, list):
                raise SalesforceError(400, "JSON_PARSER_ERROR", "ids and fields must be lists")
        if not ids or not names:
            raise SalesforceError(400, "MISSING_ARGUMENT", f"{'ids' if not ids else 'fields'} is required")
        if len(ids) > RETRIEVE_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                  f"{RETRIEVE_LIMIT} records into this call")
        fields = [schema.field_of(obj, str(name).strip())["name"] for name in names]
        found = []
        with org.connection() as conn:
            for record_id in ids:
                try:
                    found.append(store.to_json(obj, store.get(conn, org.schema, obj, str(record_id)), fields))
                except store.Unavailable:
                    found.append(None)
        return jsonify(found)
