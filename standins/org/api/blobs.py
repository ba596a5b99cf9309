"""sObject Blob Get: a blob field's bytes (`sobjects/ContentVersion/<id>/VersionData`, `sobjects/Attachment/<id>/Body`).

Salesforce answers the file itself, not JSON, with a Content-Type for it (simple-salesforce's
`get_base64` reads the raw content). Blobs are written with the record (JSON base64 or multipart:
standins/org/files.py); a record's blob field holds this resource's URL.
"""

import re

from flask import Response, current_app
from werkzeug.routing import BaseConverter

from standins.org import describe as schema
from standins.org import files, store
from standins.org.api.common import BASE
from standins.org.errors import SalesforceError
from standins.org.ids import looks_like_id


class BlobFieldConverter(BaseConverter):
    """A path segment naming a blob field of one of the org's objects (Body, VersionData), in any case."""

    # Tried before the external-id route's `<path:value>` (weight 200), which has the same shape.
    weight = 50

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, *args, **kwargs)
        names = sorted({f["name"] for o in schema.objects().values() for f in o["fields"] if f["type"] == "base64"})
        self.regex = "(?i:" + "|".join(re.escape(n) for n in names) + ")"


def init_app(app, org):
    """Register the blob route."""
    app.url_map.converters["blob_field"] = BlobFieldConverter

    @app.get(BASE + "/sobjects/<obj>/<record_id>/<blob_field:field>")
    def blob(version, obj, record_id, field):
        obj = schema.canonical_object(obj)
        f = schema.fields_by_lower(obj).get(field.lower())
        if f is None or f["type"] != "base64" or not looks_like_id(record_id):
            # Not a blob of this object: an external-id lookup whose value is a blob field's name.
            return current_app.view_functions["by_external_id"](version=version, obj=obj, field=record_id,
                                                                value=field)
        with org.connection() as conn:
            row = store.get(conn, org.schema, obj, record_id)
            data = files.load(conn, org.schema, row["id"], f["name"]) if row["fields"].get(f["name"]) else None
        if data is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(data, content_type=files.content_type(obj, row["fields"]))
