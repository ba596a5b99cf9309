"""The JSON API, /api/v1: the portal's reads and writes for scripts, described at /api/v1/openapi.json.

A caller authenticates with the portal session cookie (then unsafe methods need the X-CSRF-Token
header, like forms: web/csrf.py) or with `Authorization: Bearer <token>` (tokens from the profile
page or `python manage.py api-token`; the cookie is then ignored, so no CSRF token). Errors are
RFC 9457 problem details (web/errors.py). Every query is scoped to the caller's account in SQL,
as in web/portal.py.
"""

from datetime import date, datetime

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for

from core import cases, connect, contacts, field_values, logins, write_retries
from web import answers, database, errors, freshness, openapi
from web.identity import bearer_call, current_customer, customer_for, customer_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _authenticate():
    """Bearer token → this request's customer, or 401 for a token we did not issue."""
    if bearer_call():
        cfg = current_app.config["APP"]
        with database.connection() as conn:
            user_id = logins.api_token_user_id(conn, cfg.app_schema, (request.authorization.token or "").strip())
            user = logins.user_by(conn, cfg.connect_schema, cfg.app_schema, user_id=user_id) if user_id else None
        if user is None:
            abort(401, "That API token is not valid (revoked, or never issued).")
        g.customer = customer_for(user)


def _plain(value):
    """A JSON-friendly value (dates as ISO 8601)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _pick(row: dict, names: dict) -> dict:
    """A JSON object from a row: API name → column."""
    return {api: _plain(row.get(column)) for api, column in names.items()}


ORDER = {"id": "sfid", "number": "ordernumber", "status": "status", "effective_date": "effectivedate",
         "total_amount": "totalamount", "po_number": "ponumber", "type": "type"}
ITEM = {"number": "orderitemnumber", "product": "product_name", "product_code": "productcode",
        "quantity": "quantity", "unit_price": "unitprice", "amount": "totalprice"}
INVOICE = {"id": "sfid", "external_id": "external_id__c", "name": "name", "period": "period__c",
           "amount": "amount__c", "tax": "tax__c", "order_count": "order_count__c", "status": "status__c",
           "due_date": "due_date__c"}
CASE = {"id": "sfid", "external_id": "external_id__c", "case_number": "casenumber", "subject": "subject",
        "description": "description", "status": "status", "priority": "priority", "type": "type",
        "order_id": "order__c", "order_number": "ordernumber"}
CONTACT = {"id": "sfid", "external_id": "external_id__c", "first_name": "firstname", "last_name": "lastname",
           "email": "email", "phone": "phone", "mailing_street": "mailingstreet", "mailing_city": "mailingcity",
           "mailing_state": "mailingstate", "mailing_postal_code": "mailingpostalcode",
           "mailing_country": "mailingcountry", "account_name": "account_name"}


def _with_sync(row: dict, body: dict) -> dict:
    """Add the row's sync status to its JSON body."""
    body["sync"] = connect.row_status(row)
    return body


def _case_json(row: dict) -> dict:
    """A case as the API shows it, with its URLs."""
    key = row["external_id__c"] or row["sfid"]
    body = _with_sync(row, _pick(row, CASE))
    body["url"] = url_for("api.case", key=key)
    body["status_url"] = url_for("api.case_status", key=key)
    return body


def _body() -> dict:
    """The request's JSON object, or a 400 problem."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "Send a JSON object (Content-Type: application/json).")
    return data


def _invalid(exc: field_values.Invalid):
    """A 422 problem listing each field's message."""
    return errors.problem(422, "Unprocessable Content", "; ".join(exc.errors.values()), errors=exc.errors)


def _schema() -> str:
    """The Connect schema's name."""
    return current_app.config["APP"].connect_schema


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3 description of this API; its server is APP_URL (relative when unset), never the Host header."""
    return jsonify(openapi.document(current_app.config["APP"].app_url or ""))


@bp.get("/orders")
@customer_required
def list_orders():
    """The account's orders, newest first; `next` is the URL of the next page."""
    filters, rows, cursor = answers.order_page(request.args)
    following = None
    if cursor:
        following = url_for("api.list_orders", status=filters["status"], number=filters["number"], after=cursor)
    return jsonify(orders=[_pick(r, ORDER) for r in rows], next=following)


@bp.get("/orders/<order_sfid>")
@customer_required
def get_order(order_sfid):
    """One order with its items, invoices and cases."""
    detail = answers.order(order_sfid)
    return jsonify({**_pick(detail["order"], ORDER), "items": [_pick(i, ITEM) for i in detail["items"]],
                    "invoices": [_pick(i, INVOICE) for i in detail["invoices"]],
                    "cases": [_case_json(c) for c in detail["cases"]]})


@bp.post("/orders/<order_sfid>/cases")
@customer_required
def file_case(order_sfid):
    """File a case about the order; 201 with the case, its sync status "Sending to Salesforce…"."""
    data = _body()
    try:
        values = cases.case_values(data)
    except field_values.Invalid as exc:
        return _invalid(exc)
    with database.connection() as conn:
        key = cases.file_case(conn, _schema(), current_customer(), values, order_sfid)
        if key is None:
            abort(404, "No such order in your account.")
        row = cases.get_case(conn, _schema(), current_customer().account_sfid, key)
        freshness.remember_write(conn)
    response = jsonify(_case_json(row))
    response.status_code = 201
    response.headers["Location"] = url_for("api.case", key=key)
    return response


@bp.get("/cases")
@customer_required
def list_cases():
    """The account's cases, newest first."""
    return jsonify(cases=[_case_json(r) for r in answers.list_cases()])


@bp.get("/cases/<key>")
@customer_required
def case(key):
    """One case, by Salesforce Id or external id."""
    return jsonify(_case_json(answers.case(key)))


# The same answer as the portal badge's /cases/<key>/status.json: one view, two URLs.
bp.add_url_rule("/cases/<key>/status", view_func=answers.case_status)


@bp.post("/cases/<key>/retry")
@customer_required
def retry_case(key):
    """Send a case that could not be saved once more."""
    answers.send_again(write_retries.case(current_customer().account_sfid, key))
    return jsonify(_case_json(answers.case(key)))


@bp.get("/invoices")
@customer_required
def list_invoices():
    """The account's invoices."""
    return jsonify(invoices=[_with_sync(r, _pick(r, INVOICE)) for r in answers.list_invoices()])


@bp.get("/invoices/<key>")
@customer_required
def invoice(key):
    """One invoice."""
    row = answers.invoice(key)
    return jsonify(_with_sync(row, _pick(row, INVOICE)))


@bp.get("/profile")
@customer_required
def profile():
    """The caller's own contact details and their sync status."""
    row = answers.contact()
    return jsonify(_with_sync(row, _pick(row, CONTACT)))


# The profile fields a caller may change: API name → column (the editable ones of core/contacts.py).
PROFILE_FIELDS = {api: column for api, column in CONTACT.items() if column in contacts.COLUMNS}


@bp.patch("/profile")
@customer_required
def update_profile():
    """Change phone and mailing fields (only those sent); Connect sends them to Salesforce."""
    data = _body()
    unknown = sorted(set(data) - set(PROFILE_FIELDS))
    if unknown:
        abort(422, f"These fields cannot be changed here: {', '.join(unknown)[:200]}.")
    try:
        values = contacts.contact_values({PROFILE_FIELDS[k]: v for k, v in data.items()})
    except field_values.Invalid as exc:
        return _invalid(exc)
    with database.connection() as conn:
        if contacts.update_contact(conn, _schema(), current_customer(), values):
            freshness.remember_write(conn)
        row = contacts.get_contact(conn, _schema(), current_customer())
    return jsonify(_with_sync(row, _pick(row, CONTACT)))


@bp.post("/profile/retry")
@customer_required
def retry_profile():
    """Send contact changes that could not be saved once more."""
    answers.send_again(write_retries.contact(current_customer()))
    row = answers.contact()
    return jsonify(_with_sync(row, _pick(row, CONTACT)))
