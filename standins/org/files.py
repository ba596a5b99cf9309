"""Files: the blob fields (describe type `base64`) of ContentVersion and Attachment, kept apart from the records.

A blob comes base64-encoded in a JSON body (simple-salesforce's `upload_base64`/`update_base64`),
or as the binary part of a multipart body (`entity_content` JSON, then `VersionData`), as
Salesforce's REST API takes it. The org keeps the bytes in the table `blobs` (record Id, field,
bytea), and the record's field holds the blob's URL, which is what Salesforce answers for a blob
field in a record or a query (`/services/data/v59.0/sobjects/Attachment/00P…/Body`); a GET of that
URL answers the bytes (sObject Blob Get).

Sizes follow Salesforce's REST limits: a JSON message of at most 50 MB, a base64 blob in it of at
most 37.5 MB decoded, an Attachment body of at most 25 MB. Multipart uploads, which Salesforce
takes up to 2 GB (ContentVersion) or 500 MB, are kept to LOCAL_FILE_LIMIT here: the bytes live in
Postgres rows.
"""

import base64
import binascii
import hashlib
import json
import mimetypes
from pathlib import PurePosixPath

from psycopg import sql

from standins.org.errors import SalesforceError

MB = 1024 * 1024
JSON_MESSAGE_LIMIT = 50 * MB
JSON_BLOB_LIMIT = int(37.5 * MB)
ATTACHMENT_LIMIT = 25 * MB
LOCAL_FILE_LIMIT = 100 * MB
# The URL a record's blob field holds (the API version of the org's own record URLs, as store.to_json writes them).
BLOB_URL = "/services/data/v59.0/sobjects/{obj}/{id}/{field}"
# ContentVersion.FileType from the file's extension (PathOnClient), as Salesforce names the common types.
FILE_TYPES = {"pdf": "PDF", "png": "PNG", "jpg": "JPG", "jpeg": "JPG", "gif": "GIF", "txt": "TEXT", "csv": "CSV",
              "xml": "XML", "json": "JSON", "html": "HTML", "htm": "HTML", "zip": "ZIP", "doc": "WORD",
              "docx": "WORD_X", "xls": "EXCEL", "xlsx": "EXCEL_X", "ppt": "POWER_POINT", "pptx": "POWER_POINT_X",
              "rtf": "RTF", "mp4": "MP4", "mp3": "MP3"}

SAVE_BLOB = """
INSERT INTO {s}.blobs (record_id, field, data) VALUES (%s, %s, %s)
ON CONFLICT (record_id, field) DO UPDATE SET data = EXCLUDED.data
"""
LOAD_BLOB = "SELECT data FROM {s}.blobs WHERE record_id = %s AND field = %s"


def too_large(message: str) -> SalesforceError:
    """The refusal of a request or file above a size limit."""
    return SalesforceError(400, "EXCEEDED_MAX_SIZE_REQUEST", message)


def decode(obj: str, f: dict, value) -> bytes:
    """A blob field's bytes: base64 text from a JSON body, or bytes from a multipart part; size-checked."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SalesforceError(400, "INVALID_TYPE_ON_FIELD_IN_RECORD",
                                  f"{f['label']}: value not of required type: not base64 data", [f["name"]]) from None
        if len(data) > JSON_BLOB_LIMIT:
            raise too_large(f"{f['label']}: base64 data in a JSON body is limited to 37.5 MB; send larger files "
                            "as a multipart request")
    else:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"{f['label']}: value not of required type: {value}",
                              [f["name"]])
    if obj == "Attachment" and len(data) > ATTACHMENT_LIMIT:
        raise SalesforceError(400, "MAXIMUM_SIZE_OF_ATTACHMENT", "Attachment body exceeds the maximum size of 25 MB",
                              [f["name"]])
    return data


def missing(obj: str, r: dict, creating: bool) -> list[str]:
    """The fields a new ContentVersion kept in Salesforce (ContentLocation S) lacks of its data and file name.

    Describe calls both nillable (an external file has neither), so the generic required check passes them.
    """
    if obj != "ContentVersion" or not creating or r.get("ContentLocation", "S") != "S":
        return []
    return [name for name in ("PathOnClient", "VersionData") if r.get(name) is None]


def computed(obj: str, r: dict, creating: bool) -> dict:
    """What the org derives from a file it is given: sizes, checksum, type, and a title from the file name."""
    out = {}
    if obj == "Attachment" and isinstance(r.get("Body"), bytes):
        out["BodyLength"] = len(r["Body"])
    if obj == "ContentVersion" and creating and isinstance(r.get("VersionData"), bytes):
        path = PurePosixPath((r.get("PathOnClient") or "").replace("\\", "/"))
        extension = path.suffix.removeprefix(".").lower()
        out.update(ContentSize=len(r["VersionData"]), Checksum=hashlib.md5(r["VersionData"]).hexdigest(),
                   FileExtension=extension or None, FileType=FILE_TYPES.get(extension, "UNKNOWN"))
        if not r.get("Title"):
            out["Title"] = path.stem or path.name
    return out


def take(obj: str, record_id: str, data: dict) -> dict[str, bytes]:
    """Move the blobs out of a record's values (leaving each one's URL in its place); return them by field."""
    blobs = {name: value for name, value in data.items() if isinstance(value, bytes)}
    for name in blobs:
        data[name] = BLOB_URL.format(obj=obj, id=record_id, field=name)
    return blobs


def save(conn, schema: str, record_id: str, blobs: dict[str, bytes]) -> None:
    """Store a record's blobs (replacing any it had)."""
    for name, data in blobs.items():
        conn.execute(sql.SQL(SAVE_BLOB).format(s=sql.Identifier(schema)), (record_id, name, data))


def load(conn, schema: str, record_id: str, field: str) -> bytes | None:
    """A record's blob, or None."""
    row = conn.execute(sql.SQL(LOAD_BLOB).format(s=sql.Identifier(schema)), (record_id, field)).fetchone()
    return bytes(row["data"]) if row else None


def content_type(obj: str, fields: dict) -> str:
    """The Content-Type a blob is answered with: the Attachment's own, else the file name's, else binary."""
    if obj == "Attachment" and fields.get("ContentType"):
        return fields["ContentType"]
    name = fields.get("PathOnClient") or fields.get("Name") or ""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def multipart_record(form, uploads) -> dict:
    """A record from a multipart body: its JSON part's fields and, for each binary part, the field it names."""
    record = {}
    for value in form.values():
        try:
            part = json.loads(value)
        except ValueError:
            raise SalesforceError(400, "JSON_PARSER_ERROR", "The multipart request's entity part is not JSON") from None
        if not isinstance(part, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object in the multipart entity part")
        record.update(part)
    for name, upload in uploads.items():
        data = upload.stream.read(LOCAL_FILE_LIMIT + 1)
        if len(data) > LOCAL_FILE_LIMIT:
            raise too_large(f"{name}: the local org keeps files of at most {LOCAL_FILE_LIMIT // MB} MB "
                            "(Salesforce takes 2 GB for ContentVersion, 500 MB for other objects)")
        record[name] = data
    return record
