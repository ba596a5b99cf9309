"""The API reference, /api/docs: web/openapi.py's document as a page a person reads, rendered on the server.

No script and no CDN (the CSP stays strict): the operations, their parameters, request bodies and
responses, and the schemas they name, laid out by a Jinja template. Open to anyone, like
/api/v1/openapi.json itself; the API's own calls still need a token or the portal's session.
"""

import re

from flask import Blueprint, current_app, render_template, request, url_for
from markupsafe import Markup, escape

from web import openapi

bp = Blueprint("api_reference", __name__)

METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/"
# What a schema keyword means, in the order the page lists them beside a field.
NOTES = (("format", "format {}"), ("pattern", "pattern {}"), ("maxLength", "at most {} characters"),
         ("minLength", "at least {} characters"), ("default", "default {}"))


@bp.app_template_filter("code_spans")
def code_spans(text: str) -> Markup:
    """The document's `backticks` as <code>, everything else escaped."""
    parts = str(escape(text or "")).split("`")
    return Markup("".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts)))


def anchor(*parts: str) -> str:
    """An HTML id from an operation's method and path, or a schema's name: `get-api-v1-orders-order_sfid`."""
    return re.sub(r"[^a-z0-9_]+", "-", "-".join(parts).lower()).strip("-")


def ref_name(ref: str) -> str:
    """`#/components/schemas/Order` → `Order`."""
    return ref.rsplit("/", 1)[-1]


def _type_text(schema: dict) -> str:
    """`string`, `number or null`, `array of Order`, `Order`."""
    if "$ref" in schema:
        return ref_name(schema["$ref"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type_text(schema.get('items', {}))}"
    if isinstance(kind, list):
        return " or ".join(kind)
    if "allOf" in schema:
        return " with ".join(_type_text(part) for part in schema["allOf"])
    return kind or "any"


def shape(schema: dict, required=()) -> dict:
    """A schema as the template shows it: its type, enum, notes, examples and, for an object, its fields."""
    view = {"type": _type_text(schema), "ref": ref_name(schema["$ref"]) if "$ref" in schema else None,
            "description": schema.get("description", ""), "enum": schema.get("enum"),
            "examples": schema.get("examples", []),
            "notes": [text.format(schema[key]) for key, text in NOTES if key in schema],
            "required": False, "fields": [], "parts": []}
    if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
        view["ref"] = ref_name(schema["items"]["$ref"])
    for part in schema.get("allOf", []):
        view["parts"].append(shape(part))
    wanted = set(schema.get("required", ()))
    for name, field in schema.get("properties", {}).items():
        view["fields"].append({**shape(field), "name": name, "required": name in wanted})
    if schema.get("additionalProperties") is False:
        view["notes"].append("no other fields")
    return view


def _content(body: dict) -> list[dict]:
    """A request body's or response's media types, each with its schema's shape."""
    return [{"media_type": media, "schema": shape(item.get("schema", {}))}
            for media, item in body.get("content", {}).items()]


def _responses(operation: dict, document: dict) -> list[dict]:
    """Each response of an operation, a `$ref` to a shared response resolved (and named)."""
    answers = []
    for code, response in operation.get("responses", {}).items():
        shared = None
        if "$ref" in response:
            shared = ref_name(response["$ref"])
            response = document["components"]["responses"][shared]
        answers.append({"code": code, "description": response.get("description", ""), "shared": shared,
                        "content": _content(response)})
    return answers


def operations(document: dict) -> list[dict]:
    """Every operation of the document, in its order: method, path, summary, parameters, body, responses."""
    found = []
    default_security = document.get("security", [])
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            security = operation.get("security", default_security)
            found.append({
                "method": method.upper(), "path": path, "id": anchor(method, path),
                "summary": operation.get("summary", ""), "public": not security,
                "parameters": [{**p, "schema": shape(p.get("schema", {}))} for p in operation.get("parameters", [])],
                "body": _content(operation["requestBody"]) if "requestBody" in operation else [],
                "responses": _responses(operation, document),
            })
    return found


def schemas(document: dict) -> list[dict]:
    """The document's named schemas, each with its shape and anchor."""
    return [{"name": name, "id": anchor("schema", name), "schema": shape(schema)}
            for name, schema in document.get("components", {}).get("schemas", {}).items()]


def shared_responses(document: dict) -> list[dict]:
    """The responses operations share by `$ref` (the problem details), each with its anchor."""
    return [{"name": name, "id": anchor("response", name), "description": response.get("description", ""),
             "content": _content(response)}
            for name, response in document.get("components", {}).get("responses", {}).items()]


@bp.get("/api/docs")
def reference():
    """The human-readable API reference (no login: it describes, it does not answer)."""
    app_url = current_app.config["APP"].app_url or ""
    document = openapi.document(app_url)
    named = schemas(document)
    return render_template(
        "api/reference.html", document=document, operations=operations(document), schemas=named,
        responses=shared_responses(document), schema_ids={s["name"]: s["id"] for s in named},
        security_schemes=document.get("components", {}).get("securitySchemes", {}),
        base_url=(app_url or request.host_url).rstrip("/"), openapi_url=url_for("api.openapi_document"),
    )
