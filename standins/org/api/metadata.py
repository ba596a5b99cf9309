"""The local org's Metadata API: readMetadata and createMetadata/upsertMetadata for the setup command.

The local org serves every object in sql/connect/objects.json whatever happens here; this endpoint
records which custom objects and fields have been *deployed* (in the org's settings table), as a fresh
Developer Edition org would report them, so `python manage.py org setup` can be tried and rerun
against it. SOAP in, SOAP out, shaped as zeep (simple-salesforce's `mdapi`) expects.
"""

import json
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from flask import Response, request
from psycopg import sql

from standins.org import store

NS = {"soapenv": "http://schemas.xmlsoap.org/soap/envelope/", "md": "http://soap.sforce.com/2006/04/metadata",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{soapenv}" xmlns="{md}" '
             'xmlns:xsi="{xsi}"><soapenv:Body>{{body}}</soapenv:Body></soapenv:Envelope>').format(**NS)
SUPPORTED = {"CustomObject", "CustomField"}


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


def _to_xml(data) -> str:
    if isinstance(data, dict):
        parts = []
        for key, value in data.items():
            for item in value if isinstance(value, list) else [value]:
                parts.append(f"<{key}>{_to_xml(item)}</{key}>")
        return "".join(parts)
    return escape(str(data))


def _fault(code: str, message: str, status: int = 500) -> Response:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{escape(message)}</faultstring>"
            "</soapenv:Fault>")
    return Response(_ENVELOPE.format(body=body), status=status, content_type="text/xml")


def init_app(app, org):
    """Register the SOAP endpoint."""

    def key(kind, name):
        return f"metadata:{kind}:{name}"

    def load(conn, kind, name):
        row = conn.execute(sql.SQL(store.GET_SETTING).format(
            sql.Identifier(org.schema)), (key(kind, name),)).fetchone()
        return json.loads(row["value"]) if row else None

    @app.post("/services/Soap/m/<version>/")
    @app.post("/services/Soap/m/<version>")
    @app.post("/services/Soap/m/<version>/<org_id>")
    def metadata_api(version, org_id=None):
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
        with org.connection() as conn:
            if operation == "readMetadata":
                kind = call.findtext("md:type", default="", namespaces=NS)
                if kind not in SUPPORTED:
                    return _fault("INVALID_TYPE", f"the local org's Metadata API knows {sorted(SUPPORTED)}, not {kind}")
                records = []
                for name in [e.text or "" for e in call.findall("md:fullNames", NS)]:
                    found = load(conn, kind, name)
                    records.append(f'<records xsi:type="{kind}">{_to_xml(found) if found else ""}</records>')
                return Response(_ENVELOPE.format(body=f"<readMetadataResponse><result>{''.join(records)}</result>"
                                                      "</readMetadataResponse>"), content_type="text/xml")
            if operation in ("createMetadata", "upsertMetadata"):
                results = []
                for item in call.findall("md:metadata", NS):
                    kind = _local(item.get(f"{{{NS['xsi']}}}type", "")).split(":")[-1]
                    data = _to_dict(item)
                    name = data.get("fullName", "") if isinstance(data, dict) else ""
                    if kind not in SUPPORTED or not name:
                        results.append(_result(operation, name, False, "INVALID_TYPE", f"cannot deploy {kind}"))
                        continue
                    exists = load(conn, kind, name) is not None
                    if exists and operation == "createMetadata":
                        results.append(_result(operation, name, False, "DUPLICATE_DEVELOPER_NAME",
                                               f"There is already a {kind} named {name}"))
                        continue
                    org.set_setting(conn, key(kind, name), json.dumps(data))
                    results.append(_result(operation, name, True, created=not exists))
                response = f"<{operation}Response>{''.join(results)}</{operation}Response>"
                return Response(_ENVELOPE.format(body=response), content_type="text/xml")
        return _fault("INVALID_OPERATION", f"the local org's Metadata API does not offer {operation}")


def _result(operation, name, success, code=None, message=None, created=False):
    errors = f"<errors><message>{escape(message)}</message><statusCode>{code}</statusCode></errors>" if code else ""
    created_tag = f"<created>{str(created).lower()}</created>" if operation == "upsertMetadata" else ""
    return (f"<result>{created_tag}{errors}<fullName>{escape(name)}</fullName>"
            f"<success>{str(success).lower()}</success></result>")
