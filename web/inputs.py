"""What a request may carry, checked once before any view runs: no input reaches the database unchecked.

- An identifier in a URL has one shape (a Salesforce Id, an external id, a job id, a link token, an
  export's name: SHAPES, keyed by the route's parameter name). Any other value cannot name a row, so
  it is a 404 before any query. tests/test_bad_input.py fails for a route parameter without a shape.
- Query strings and form fields carry no NUL or other control characters (Postgres refuses NUL in
  text; the others are never typed by a person): 400. Form fields may hold tab and line breaks.
  The fields written to Salesforce (a case's, the contact's) are left to core/field_values.py, which
  checks them against Salesforce's describe and says which field is wrong on the form itself; it
  checks the same fields of a JSON body.
- Request bodies are at most MAX_BODY_BYTES (413) and JSON bodies MAX_JSON_DEPTH levels deep (400).

Refusals go through abort(), so they are the app's error page or RFC 9457 problem details (web/errors.py).
"""

import re

from flask import Request, abort, request
from werkzeug.exceptions import BadRequest

from core import cases, contacts

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 16
TOO_DEEP = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."

# A Salesforce record Id: 15 characters (case-sensitive) or 18 (with the case-safe suffix).
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}|[A-Za-z0-9]{18}")
# An external id (a UUID from core/cases.py, or a key like INV-2024-05-0001); a Salesforce Id fits it too.
EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")
# core/jobs.job_id ("export-<hex>") and core/invoicing.chunk_job_id ("invoice-run-1-chunk-2").
JOB_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
# An invitation or reset link's token (secrets.token_urlsafe).
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,128}")
# A key of core/exports.EXPORTS.
EXPORT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
# A file under web/static (Flask's own route).
STATIC_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")

# Route parameter name → the shape its value must have.
SHAPES = {
    "order_sfid": SALESFORCE_ID,
    "key": EXTERNAL_ID,
    "job_id": JOB_ID,
    "token": LINK_TOKEN,
    "name": EXPORT_NAME,
    "filename": STATIC_FILE,
}

# Form fields core/field_values.py checks itself, with a message beside the field.
DESCRIBED_FIELDS = frozenset(f.lower() for f in cases.FIELDS + contacts.EDITABLE)

# C0 controls and DEL; a form field may also hold tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A path on this site: starts with one "/", then printable ASCII without "\" (browsers read "/\host" as "//host").
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")


def same_site_path(target: str | None) -> str | None:
    """The target if it is a relative path on this site (never another host, never a header break), else None."""
    if target and _SAME_SITE_PATH.fullmatch(target):
        return target
    return None


def _has_control(items, pattern, skip=frozenset()) -> bool:
    """Whether any key, or any value but those of `skip`, of a MultiDict's items matches `pattern`."""
    return any(pattern.search(key) or (key not in skip and pattern.search(value)) for key, value in items)


def check() -> None:
    """Refuse an identifier of the wrong shape (404) and control characters in a query or form (400)."""
    if request.routing_exception is not None:
        return
    for param, value in (request.view_args or {}).items():
        shape = SHAPES.get(param)
        if isinstance(value, str) and (shape is None or not shape.fullmatch(value)):
            abort(404, "There is nothing at this address.")
    if _has_control(request.args.items(multi=True), _CONTROL):
        abort(400, "The address has a control character in its query string. Remove it and try again.")
    if request.method != "GET" and _has_control(request.form.items(multi=True), _CONTROL_IN_TEXT, DESCRIBED_FIELDS):
        abort(400, "A field has a control character (such as NUL) that text cannot hold. Remove it and try again.")


def too_deep(data) -> bool:
    """Whether a parsed JSON value nests objects and arrays more than MAX_JSON_DEPTH levels."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


class CheckedRequest(Request):
    """Flask's request, whose JSON body is refused (400) when nested too deep."""

    def get_json(self, force=False, silent=False, cache=True):
        """The parsed body (see Flask), or a 400 for one nested too deep."""
        # The parser recurses per level: a body of 100,000 "[" raises RecursionError, not ValueError.
        try:
            data = super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            raise BadRequest(TOO_DEEP) from None
        if too_deep(data):
            raise BadRequest(TOO_DEEP)
        return data


def init_app(app):
    """Limit request bodies, check JSON bodies, and check every request's inputs before its view."""
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_CONTENT_LENGTH"] or MAX_BODY_BYTES
    app.request_class = CheckedRequest
    app.before_request(check)

