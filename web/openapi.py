"""The OpenAPI 3.1 document for /api/v1, written by hand next to the code it describes.

tests/test_api.py checks that every /api/v1 route in the app appears here, so the two cannot drift, and
tests/test_openapi_fuzz.py has schemathesis hold every answer to it.
"""

from core import orders

PROBLEM = {"$ref": "#/components/responses/Problem"}
SYNC = {
    "type": "object",
    "description": "Where the row stands on its way to Salesforce (from _hc_lastop / _hc_err).",
    "properties": {
        "state": {"type": "string", "enum": ["pending", "saved", "failed"]},
        "label": {"type": "string", "examples": ["Sending to Salesforce…", "Saved", "Could not be saved: …"]},
        "final": {"type": "boolean", "description": "false while pending: poll status_url until true"},
    },
}
_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}
ORDER = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Salesforce Id"}, "number": {"type": "string"},
        "status": {"type": "string"}, "effective_date": {"type": "string", "format": "date"},
        "total_amount": _NUM, "po_number": _STR, "type": _STR,
    },
}
ITEM = {"type": "object", "properties": {
    "number": _STR, "product": _STR, "product_code": _STR, "quantity": _NUM, "unit_price": _NUM, "amount": _NUM}}
INVOICE = {"type": "object", "properties": {
    "id": _STR, "external_id": _STR, "name": _STR, "period": _STR, "amount": _NUM, "tax": _NUM,
    "order_count": _NUM, "status": _STR, "due_date": {"type": ["string", "null"], "format": "date"},
    "sync": {"$ref": "#/components/schemas/Sync"}}}
CASE = {"type": "object", "properties": {
    "id": {**_STR, "description": "Salesforce Id; null until Connect has inserted the case"},
    "external_id": {**_STR, "description": "UUID the portal gave the case (External_ID__c)"},
    "case_number": _STR, "subject": _STR, "description": _STR, "status": _STR, "priority": _STR, "type": _STR,
    "order_id": _STR, "order_number": _STR, "url": {"type": "string"}, "status_url": {"type": "string"},
    "sync": {"$ref": "#/components/schemas/Sync"}}}
NEW_CASE = {"type": "object", "required": ["subject"], "properties": {
    "subject": {"type": "string", "maxLength": 255},
    "description": {"type": "string", "maxLength": 32000},
    "type": {"type": "string", "enum": ["Question", "Problem", "Feature Request"]},
    "priority": {"type": "string", "enum": ["High", "Medium", "Low"]}}}
CONTACT = {"type": "object", "properties": {
    "id": _STR, "external_id": _STR, "first_name": _STR, "last_name": _STR, "email": _STR, "phone": _STR,
    "mailing_street": _STR, "mailing_city": _STR, "mailing_state": _STR, "mailing_postal_code": _STR,
    "mailing_country": _STR, "account_name": _STR, "sync": {"$ref": "#/components/schemas/Sync"}}}
PROFILE_CHANGE = {"type": "object", "additionalProperties": False, "properties": {
    "phone": {"type": ["string", "null"], "maxLength": 40},
    "mailing_street": {"type": ["string", "null"], "maxLength": 255},
    "mailing_city": {"type": ["string", "null"], "maxLength": 40},
    "mailing_state": {"type": ["string", "null"], "maxLength": 80},
    "mailing_postal_code": {"type": ["string", "null"], "maxLength": 20},
    "mailing_country": {"type": ["string", "null"], "maxLength": 80}}}


def _ok(schema_ref: str, description: str = "OK") -> dict:
    """A JSON response with a named schema."""
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


def _list(key: str, item: str) -> dict:
    """A JSON response holding a list of a named schema under `key`."""
    items = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    schema = {"type": "object", "properties": {key: items}}
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _op(summary: str, responses: dict, *, params=(), body=None, errors=(401, 404)) -> dict:
    """An operation with its responses, problem responses, parameters and body."""
    op = {"summary": summary, "responses": {**responses, **{str(code): PROBLEM for code in errors}}}
    if params:
        op["parameters"] = list(params)
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _path_param(name: str, description: str) -> dict:
    """A required string path parameter."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


ORDER_ID = _path_param("order_sfid", "The order's Salesforce Id")
CASE_KEY = _path_param("key", "The case's Salesforce Id or external id")
INVOICE_KEY = _path_param("key", "The invoice's Salesforce Id or external id")


def document(server_url: str = "") -> dict:
    """The OpenAPI document, with this deployment as its server."""
    query = [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": [*orders.STATUSES, ""]},
         "description": "Only orders in this status (empty: every status)"},
        {"name": "number", "in": "query", "schema": {"type": "string", "pattern": orders.NUMBER_PATTERN},
         "description": "Order number (leading zeros optional)"},
        {"name": "after", "in": "query", "schema": {"type": "string", "pattern": orders.CURSOR_OR_EMPTY},
         "description": "Page cursor from `next` (an order date and Id; a cursor naming no real date is a 400)"},
    ]
    orders_page = {"description": "OK", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
        "next": {"type": ["string", "null"], "description": "URL of the next (older) page"}}}}}}
    order_detail = {"description": "OK", "content": {"application/json": {"schema": {"allOf": [
        {"$ref": "#/components/schemas/Order"},
        {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderItem"}},
            "invoices": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}},
            "cases": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}}}}]}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customer portal API",
            "version": "1",
            "description": "Orders, invoices, support cases and the caller's contact, from Salesforce data synced by "
            "Heroku Connect. Writes go to Salesforce through Connect: follow `sync` until it is final.",
        },
        "servers": [{"url": server_url or "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                             "responses": {"200": {"description": "OK"}}}},
            "/api/v1/orders": {"get": _op("The account's orders, newest first", {"200": orders_page},
                                          params=query, errors=(400, 401))},
            "/api/v1/orders/{order_sfid}": {"get": _op("One order with items, invoices and cases",
                                                       {"200": order_detail}, params=[ORDER_ID])},
            "/api/v1/orders/{order_sfid}/cases": {"post": _op(
                "File a support case about the order", {"201": _ok("Case", "Created")},
                params=[ORDER_ID], body=NEW_CASE, errors=(400, 401, 404, 422))},
            "/api/v1/cases": {"get": _op("The account's cases", {"200": _list("cases", "Case")}, errors=(401,))},
            "/api/v1/cases/{key}": {"get": _op("One case", {"200": _ok("Case")}, params=[CASE_KEY])},
            "/api/v1/cases/{key}/status": {"get": _op("The case's sync status", {"200": _ok("Sync")},
                                                      params=[CASE_KEY])},
            "/api/v1/cases/{key}/retry": {"post": _op("Send a case that could not be saved again", {"200": _ok("Case")},
                                                      params=[CASE_KEY], errors=(401, 404, 409))},
            "/api/v1/invoices": {"get": _op("The account's invoices", {"200": _list("invoices", "Invoice")},
                                            errors=(401,))},
            "/api/v1/invoices/{key}": {"get": _op("One invoice", {"200": _ok("Invoice")}, params=[INVOICE_KEY])},
            "/api/v1/profile": {
                "get": _op("The caller's contact details", {"200": _ok("Contact")}),
                "patch": _op("Change phone and mailing address", {"200": _ok("Contact")}, body=PROFILE_CHANGE,
                             errors=(400, 401, 422)),
            },
            "/api/v1/profile/retry": {"post": _op("Send contact changes that could not be saved again",
                                                  {"200": _ok("Contact")}, errors=(401, 404, 409))},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from the profile page or `python manage.py api-token`."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The portal's session cookie; unsafe methods also need X-CSRF-Token."},
            },
            "schemas": {"Order": ORDER, "OrderItem": ITEM, "Invoice": INVOICE, "Case": CASE, "NewCase": NEW_CASE,
                        "Contact": CONTACT, "Sync": SYNC},
            "responses": {"Problem": {"description": "RFC 9457 problem details", "content": {
                "application/problem+json": {"schema": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}, "errors": {"type": "object"}}}}}}},
        },
    }
