"""sObject Collections: up to 200 records created, updated, upserted or deleted in one call."""

from flask import jsonify, request

from standins.org import describe as schema
from standins.org import store
from standins.org.api.common import BASE, COLLECTION_LIMIT, record_body
from standins.org.errors import SalesforceError
from standins.org.ids import full_id


def init_app(app, org):
    """Register the collection routes."""
    base = BASE

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
        return schema.canonical_object(item["attributes"].get("type", ""))

    @app.route(base + "/composite/sobjects", methods=["POST", "PATCH", "DELETE"])
    def composite(version):
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            collection(ids, "delete")
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"

            def remove(conn, record_id):
                obj = schema.key_prefix_object(record_id)
                if obj is None:
                    raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
                try:
                    store.delete(conn, org.schema, obj, record_id)
                except SalesforceError:
                    raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted") from None
                return {"id": full_id(record_id)}

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
            return {"id": full_id(record_id)}

        return jsonify(run_collection(records, all_or_none, apply))

    @app.patch(base + "/composite/sobjects/<obj>/<field>")
    def composite_upsert(version, obj, field):
        obj = schema.canonical_object(obj)
        data = record_body()
        records = collection(data.get("records"), "upsert")
        all_or_none = bool(data.get("allOrNone"))
        ext = schema.field_of(obj, field)["name"]

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
