"""The local org's Metadata API: read, list and describe what describe serves; create and upsert agree with it.

The org's objects and fields are the ones in sql/connect/objects.json (standins/org/describe.py), so
the Metadata API reports exactly those: readMetadata of a CustomObject or CustomField derives the
component from its describe, listMetadata lists them, and describeMetadata names the two types.
createMetadata of a component the org has is a DUPLICATE_DEVELOPER_NAME and upsertMetadata of one
succeeds with created=false, as a real org answers; a component it does not have is refused, since
what the org serves is fixed by that file (docs/local-org.md). updateMetadata of a component the org
has is kept (a `metadata:<type>:<fullName>` setting) and readMetadata answers with it from then on;
describe and the records keep the file's definitions. SOAP in, SOAP out, shaped as zeep
(simple-salesforce's `mdapi`) and jsforce read it.
"""

import json
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from flask import Response, request
from psycopg import sql

from core import org_setup
from standins.org import describe
from standins.org.api.common import USER_ID
from standins.org.errors import SalesforceError

NS = {"soapenv": "http://schemas.xmlsoap.org/soap/envelope/", "md": "http://soap.sforce.com/2006/04/metadata",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{soapenv}" xmlns="{md}" '
             'xmlns:xsi="{xsi}"><soapenv:Body>{{body}}</soapenv:Body></soapenv:Envelope>').format(**NS)
SUPPORTED = ("CustomObject", "CustomField")
# What listMetadata says of who made the components and when: standard objects carry the epoch, as
# in a real org; the org's own custom components are dated when the local org's definitions began.
USER_NAME = "Integration User"
STANDARD_DATE, CUSTOM_DATE = "1970-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"
# Key prefixes of the Ids a real org gives custom object and custom field definitions.
NO_DEPLOY = ("the local org's Metadata API does not deploy .zip packages (deploy, checkDeployStatus): its objects "
             "and fields are those of sql/connect/objects.json")
CANNOT_DEPLOY = ("the local org serves the objects and fields in sql/connect/objects.json and cannot deploy others: "
                 "{name} is not among them (add it to that file; it also shapes the local Connect tables)")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _to_dict(element) -> dict | str:
    children = list(element)
    if not children:
        return element.text or ""
    out = {}
    for child in children:
        value = _to_dict(child)
        key = _local(child.tag)
        if key in out:
            out[key] = out[key] if isinstance(out[key], list) else [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def _to_xml(data, *, metadata=True) -> str:
    """Elements in the WSDL's order: alphabetical, a Metadata component's fullName first."""
    if isinstance(data, dict):
        keys = sorted(data, key=lambda k: (not (metadata and k == "fullName"), k))
        parts = []
        for key in keys:
            value = data[key]
            for item in value if isinstance(value, list) else [value]:
                parts.append(f"<{key}>{_to_xml(item, metadata=metadata)}</{key}>")
        return "".join(parts)
    if isinstance(data, bool):
        return "true" if data else "false"
    return escape(str(data))


def _fault(code: str, message: str, status: int = 500) -> Response:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{escape(message)}</faultstring>"
            "</soapenv:Fault>")
    return Response(_ENVELOPE.format(body=body), status=status, content_type="text/xml")


def _answer(operation: str, body: str) -> Response:
    return Response(_ENVELOPE.format(body=f"<{operation}Response>{body}</{operation}Response>"),
                    content_type="text/xml")


# ---- components, from describe ------------------------------------------------------------------

def _object_named(name: str) -> str | None:
    try:
        return describe.canonical_object(name)
    except SalesforceError:
        return None


def _field_named(full_name: str) -> tuple[str, dict] | None:
    """(object, field describe) of `Obj.Field`, whatever its case; None when the org has no such field."""
    obj_name, _, field_name = full_name.partition(".")
    obj = _object_named(obj_name)
    if obj is None or not field_name:
        return None
    f = describe.fields_by_lower(obj).get(field_name.lower())
    return (obj, f) if f else None


def _custom_fields(obj: str) -> list[dict]:
    return [f for f in describe.describe(obj)["fields"] if f["custom"]]


def custom_field(obj: str, f: dict, *, qualified=True) -> dict:
    """A custom field as readMetadata answers it, from its describe (setup's own translation, plus what a read adds)."""
    component = org_setup.custom_field(obj, f)
    if component["type"] != "Checkbox":
        component["required"] = not f["nillable"]
    if component["type"] == "Lookup":
        # In the Metadata API a lookup's relationshipName is the child relationship's name on the parent
        # (Invoices for Account.Invoices__r); describe's relationshipName (Account__r) is the other side.
        parent = f["referenceTo"][0]
        child = next((r for r in describe.child_relationships(parent)
                      if r["childSObject"] == obj and r["field"] == f["name"]), None)
        if child and child["relationshipName"]:
            component["relationshipName"] = child["relationshipName"].removesuffix("__r")
        component["deleteConstraint"] = "Restrict" if component["required"] else "SetNull"
    if not qualified:
        component["fullName"] = f["name"]
    return component


def custom_object(obj: str) -> dict:
    """An object as readMetadata answers it: a custom object whole, a standard one by its custom fields."""
    definition = describe.describe(obj)
    component = org_setup.custom_object(definition) if definition["custom"] else {"fullName": obj}
    fields = [custom_field(obj, f, qualified=False) for f in _custom_fields(obj)]
    if fields:
        component["fields"] = fields
    return component


# What updateMetadata changed, by `metadata:<type>:<fullName>` (the component as sent, JSON).
UPDATED_PREFIX = "metadata:"
UPDATED_COMPONENTS = "SELECT key, value FROM {}.settings WHERE key LIKE 'metadata:%%'"


def updated_components(conn, schema: str) -> dict:
    """The components updateMetadata changed, by (type, fullName)."""
    out = {}
    for row in conn.execute(sql.SQL(UPDATED_COMPONENTS).format(sql.Identifier(schema))):
        kind, _, name = row["key"].removeprefix(UPDATED_PREFIX).partition(":")
        out[(kind, name)] = json.loads(row["value"])
    return out


def read(kind: str, name: str, updated: dict | None = None) -> dict | None:
    """The component named (as updateMetadata last changed it), or None when the org has none of that name."""
    if kind == "CustomObject":
        obj = _object_named(name)
        component = custom_object(obj) if obj else None
    else:
        found = _field_named(name)
        if found is None:
            return None
        obj, f = found
        component = custom_field(obj, f) if f["custom"] else {"fullName": f"{obj}.{f['name']}"}
    if component is not None:
        component.update({k: v for k, v in (updated or {}).get((kind, component["fullName"]), {}).items()
                          if k != "fullName"})
    return component


def _file_properties(kind: str, full_name: str, obj: str, record_id: str, standard: bool) -> dict:
    date = STANDARD_DATE if standard else CUSTOM_DATE
    props = {"createdById": USER_ID, "createdByName": USER_NAME, "createdDate": date,
             "fileName": f"objects/{obj}.object", "fullName": full_name, "id": record_id,
             "lastModifiedById": USER_ID, "lastModifiedByName": USER_NAME, "lastModifiedDate": date,
             "type": kind}
    if not standard:
        props["manageableState"] = "unmanaged"
    return props


def listing(kind: str) -> list[dict]:
    """listMetadata's FileProperties of every component of a kind: all objects, or the custom fields."""
    ids, out = describe.definition_ids(), []
    for obj, definition in describe.objects().items():
        if kind == "CustomObject":
            standard = not definition["custom"]
            out.append(_file_properties(kind, obj, obj, "" if standard else ids[obj], standard))
            continue
        for f in _custom_fields(obj):
            out.append(_file_properties(kind, f"{obj}.{f['name']}", obj, ids[(obj, f["name"])], False))
    return out


DESCRIBE_METADATA = {"metadataObjects": {"childXmlNames": "CustomField", "directoryName": "objects", "inFolder": False,
                                         "metaFile": False, "suffix": "object", "xmlName": "CustomObject"},
                     "organizationNamespace": "", "partialSaveAllowed": True, "testRequired": False}


# ---- create and upsert --------------------------------------------------------------------------

def _missing(kind: str, data: dict) -> list[str]:
    """The full names in a component the org does not have (the component itself, or fields nested in it)."""
    name = data.get("fullName", "")
    if read(kind, name) is None:
        return [name]
    if kind != "CustomObject":
        return []
    nested = data.get("fields") or []
    nested = nested if isinstance(nested, list) else [nested]
    return [f"{name}.{f.get('fullName', '')}" for f in nested
            if isinstance(f, dict) and _field_named(f"{name}.{f.get('fullName', '')}") is None]


def save(operation: str, kind: str, data, remember=None) -> str:
    """One SaveResult (UpsertResult) of createMetadata / upsertMetadata / updateMetadata.

    `remember(kind, full_name, data)` keeps what an updateMetadata sent.
    """
    name = data.get("fullName", "") if isinstance(data, dict) else ""
    if kind not in SUPPORTED or not name:
        return _result(operation, name, False, "INVALID_TYPE",
                       f"the local org's Metadata API deploys {' and '.join(SUPPORTED)}, not {kind or 'this'}")
    if operation == "updateMetadata":
        current = read(kind, name)
        if current is None:
            return _result(operation, name, False, "INVALID_CROSS_REFERENCE_KEY",
                           f"In field: fullName - no {kind} named {name} found")
        remember(kind, current["fullName"], data)
        return _result(operation, name, True)
    missing = _missing(kind, data)
    if missing:
        return _result(operation, name, False, "INVALID_OPERATION", CANNOT_DEPLOY.format(name=", ".join(missing)))
    if operation == "createMetadata":
        return _result(operation, name, False, "DUPLICATE_DEVELOPER_NAME", f"There is already a {kind} named {name}")
    return _result(operation, name, True, created=False)


def _result(operation, name, success, code=None, message=None, created=False):
    errors = f"<errors><message>{escape(message)}</message><statusCode>{code}</statusCode></errors>" if code else ""
    created_tag = f"<created>{str(created).lower()}</created>" if operation == "upsertMetadata" else ""
    return (f"<result>{created_tag}{errors}<fullName>{escape(name)}</fullName>"
            f"<success>{str(success).lower()}</success></result>")


def init_app(app, org):
    """Register the SOAP endpoint."""

    @app.post("/services/Soap/m/<version>/")
    @app.post("/services/Soap/m/<version>")
    @app.post("/services/Soap/m/<version>/<org_id>")
    @app.post("/services/Soap/m/<version>/<org_id>/<async_id>")  # simple-salesforce's checkDeployStatus
    def metadata_api(version, org_id=None, async_id=None):
        try:
            root = ET.fromstring(request.get_data())
        except ET.ParseError as exc:
            return _fault("INVALID_XML", f"the request is not XML: {exc}")
        session = root.find(".//md:SessionHeader/md:sessionId", NS)
        if session is None or not org.valid_session(session.text or ""):
            return _fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader")
        body = root.find("soapenv:Body", NS)
        call = next(iter(body), None) if body is not None else None
        if call is None:
            return _fault("INVALID_OPERATION", "no operation in the SOAP body")
        operation = _local(call.tag)
        if operation == "readMetadata":
            kind = call.findtext("md:type", default="", namespaces=NS)
            if kind not in SUPPORTED:
                return _fault("INVALID_TYPE", f"the local org's Metadata API knows {list(SUPPORTED)}, not {kind}")
            with org.connection() as conn:
                updated = updated_components(conn, org.schema)
            records = []
            for name in [e.text or "" for e in call.findall("md:fullNames", NS)]:
                found = read(kind, name, updated)
                records.append(f'<records xsi:type="{kind}">{_to_xml(found) if found else ""}</records>')
            return _answer(operation, f"<result>{''.join(records)}</result>")
        if operation == "listMetadata":
            kinds = [q.findtext("md:type", default="", namespaces=NS) for q in call.findall("md:queries", NS)]
            unknown = [k for k in kinds if k not in SUPPORTED]
            if unknown:
                return _fault("INVALID_TYPE", f"the local org's Metadata API lists {list(SUPPORTED)}, not {unknown}")
            results = [props for kind in dict.fromkeys(kinds) for props in listing(kind)]
            return _answer(operation, "".join(f"<result>{_to_xml(p, metadata=False)}</result>" for p in results))
        if operation == "describeMetadata":
            return _answer(operation, f"<result>{_to_xml(DESCRIBE_METADATA, metadata=False)}</result>")
        if operation in ("createMetadata", "upsertMetadata", "updateMetadata"):
            with org.connection() as conn, conn.transaction():
                def remember(kind, full_name, data):
                    org.set_setting(conn, f"{UPDATED_PREFIX}{kind}:{full_name}", json.dumps(data))

                results = [save(operation, _local(item.get(f"{{{NS['xsi']}}}type", "")).split(":")[-1],
                                _to_dict(item), remember) for item in call.findall("md:metadata", NS)]
            return _answer(operation, "".join(results))
        if operation == "deploy":
            return _fault("INVALID_OPERATION", NO_DEPLOY)
        if operation == "checkDeployStatus":  # no deploy ever started, so no id names one, as a real org answers
            return _fault("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        return _fault("INVALID_OPERATION", f"the local org's Metadata API does not offer {operation}")
