"""The customer portal: orders, invoices, support cases and the contact's profile.

Every page reads with the account's Salesforce Id from the session and passes it to queries that
filter by it in SQL (core/orders.py, core/cases.py, …): another account's id finds nothing, so it
is a 404. Writes go to Connect's read-write tables (Case, Contact); each shows its sync status,
which the page keeps up to date by polling a small JSON endpoint (static/portal.js).
"""

import re

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from core import account_invoices, cases, connect, contacts, field_values, logins, orders
from web import database, freshness
from web.identity import current_customer, customer_required

bp = Blueprint("portal", __name__)
ORDER_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,30}$")
CASE_FIELDS = ("Subject", "Description", "Type", "Priority")
CASE_TYPES = tuple(p["value"] for p in connect.field_definition("Case", "Type")["picklistValues"])
CASE_PRIORITIES = tuple(p["value"] for p in connect.field_definition("Case", "Priority")["picklistValues"])


def _schema() -> str:
    """The Connect schema's name."""
    return current_app.config["APP"].connect_schema


@bp.app_template_filter("money")
def money(value) -> str:
    """1234.5 → '1,234.50' (blank for None)."""
    return "" if value is None else f"{value:,.2f}"


@bp.app_template_global("sync_status")
def sync_status(row) -> dict:
    """The badge for a row's `_hc_lastop` / `_hc_err`."""
    return connect.sync_status(row.get("_hc_lastop"), row.get("_hc_err"))


def order_filters(args) -> dict:
    """Status, order number and page cursor from the query string; 400 with a clear message if malformed."""
    status = args.get("status", "").strip() or None
    number = args.get("number", "").strip() or None
    if status and status not in orders.STATUSES:
        abort(400, f"Unknown status {status[:40]!r}: choose one of {', '.join(orders.STATUSES)}.")
    if number and not ORDER_NUMBER.match(number):
        abort(400, "An order number has up to 30 letters, digits and dashes.")
    after = args.get("after") or None
    if after:
        try:
            orders.parse_cursor(after)
        except orders.BadCursor as exc:
            abort(400, str(exc))
    return {"status": status, "number": number, "after": after}


@bp.get("/orders", endpoint="orders")
@customer_required
def orders_page():
    """The account's orders, newest first, a page at a time."""
    filters = order_filters(request.args)
    with freshness.reading() as conn:
        rows, next_cursor = orders.list_orders(conn, _schema(), current_customer().account_sfid, **filters)
    return render_template(
        "portal/orders.html", orders=rows, next_cursor=next_cursor, statuses=orders.STATUSES, **filters
    )


def _order_page(order_sfid: str, form=None, errors=None, status=200):
    """Render an order of the customer's account (404 for any other), with the case form."""
    customer = current_customer()
    with freshness.reading() as conn:
        order = orders.get_order(conn, _schema(), customer.account_sfid, order_sfid)
        if order is None:
            abort(404, "No such order in your account.")
        items = orders.order_items(conn, _schema(), customer.account_sfid, order_sfid)
        invoices = account_invoices.order_invoices(
            conn, _schema(), current_app.config["APP"].app_schema, customer.account_sfid, order_sfid
        )
        order_cases = cases.list_cases(conn, _schema(), customer.account_sfid, order=order_sfid)
    return render_template(
        "portal/order.html", order=order, items=items, invoices=invoices, cases=order_cases,
        form=form or {}, errors=errors or {}, case_types=CASE_TYPES, priorities=CASE_PRIORITIES,
    ), status


@bp.get("/orders/<order_sfid>")
@customer_required
def order(order_sfid):
    """One order: items with products, status, invoices, cases, and the form to file a case."""
    return _order_page(order_sfid)


def case_values(raw: dict) -> dict:
    """Checked Case columns from submitted Subject/Description/Type/Priority; field_values.Invalid if not."""
    return field_values.clean_all("Case", {f: raw.get(f.lower()) for f in CASE_FIELDS}, required=("Subject",))


@bp.post("/orders/<order_sfid>/cases")
@customer_required
def file_case(order_sfid):
    """File a support case about the order; it goes to Salesforce through Connect."""
    form = {f.lower(): request.form.get(f.lower(), "") for f in CASE_FIELDS}
    try:
        values = case_values(form)
    except field_values.Invalid as exc:
        return _order_page(order_sfid, form=form, errors=exc.errors, status=400)
    with database.connection() as conn:
        key = cases.file_case(conn, _schema(), current_customer(), values, order_sfid)
        if key is None:
            abort(404, "No such order in your account.")
        freshness.remember_write(conn)
    flash("Your case is filed. It is on its way to our support team.", "success")
    return redirect(url_for("portal.case", key=key))


@bp.get("/cases", endpoint="cases")
@customer_required
def cases_page():
    """The account's support cases with their sync status."""
    with freshness.reading() as conn:
        rows = cases.list_cases(conn, _schema(), current_customer().account_sfid)
    return render_template("portal/cases.html", cases=rows)


@bp.get("/cases/<key>")
@customer_required
def case(key):
    """One case."""
    with freshness.reading() as conn:
        row = cases.get_case(conn, _schema(), current_customer().account_sfid, key)
    if row is None:
        abort(404, "No such case in your account.")
    return render_template("portal/case.html", case=row, key=key)


@bp.get("/cases/<key>/status.json")
@customer_required
def case_status(key):
    """The case's sync status, for the badge to update in place."""
    # Polled right after the write: the primary, so the answer is never older than the page.
    with database.connection() as conn:
        row = cases.sync_state(conn, _schema(), current_customer().account_sfid, key)
    return _sync_status(row, "No such case in your account.")


@bp.post("/cases/<key>/retry")
@customer_required
def retry_case(key):
    """Send a case that Salesforce refused once more."""
    with database.connection() as conn:
        if not cases.retry_case(conn, _schema(), current_customer().account_sfid, key):
            if cases.sync_state(conn, _schema(), current_customer().account_sfid, key) is None:
                abort(404, "No such case in your account.")
            abort(409, "Only a case that could not be saved can be sent again.")
        freshness.remember_write(conn)
    flash("Sending your case again.", "success")
    return redirect(url_for("portal.case", key=key))


@bp.get("/invoices")
@customer_required
def invoices():
    """The account's invoices."""
    with freshness.reading() as conn:
        rows = account_invoices.list_invoices(conn, _schema(), current_customer().account_sfid)
    return render_template("portal/invoices.html", invoices=rows)


@bp.get("/invoices/<key>")
@customer_required
def invoice(key):
    """One invoice."""
    with freshness.reading() as conn:
        row = account_invoices.get_invoice(conn, _schema(), current_customer().account_sfid, key)
    if row is None:
        abort(404, "No such invoice in your account.")
    return render_template("portal/invoice.html", invoice=row)


@bp.get("/invoices/<key>/status.json")
@customer_required
def invoice_status(key):
    """The invoice's sync status (invoices are written by batch invoicing, and reach Salesforce through Connect)."""
    with freshness.reading() as conn:
        row = account_invoices.sync_state(conn, _schema(), current_customer().account_sfid, key)
    return _sync_status(row, "No such invoice in your account.")


def contact_values(raw: dict) -> dict:
    """Checked Contact columns from the submitted phone and mailing fields; field_values.Invalid if not."""
    return field_values.clean_all("Contact", {f: raw.get(f.lower()) for f in contacts.EDITABLE})


def _profile_page(form=None, errors=None, status=200, new_token=None):
    """Render the customer's own Contact, the edit form and the API tokens."""
    customer = current_customer()
    with freshness.reading() as conn:
        contact = contacts.get_contact(conn, _schema(), customer)
        tokens = logins.api_tokens(conn, current_app.config["APP"].app_schema, customer.user_id)
    if contact is None:
        abort(404, "Your contact record is not available.")
    return render_template(
        "portal/profile.html", contact=contact, form=form or contact, errors=errors or {}, tokens=tokens,
        new_token=new_token,
    ), status


@bp.get("/profile")
@customer_required
def profile():
    """The contact's own details, with phone and mailing address editable."""
    return _profile_page()


@bp.post("/profile")
@customer_required
def update_profile():
    """Save phone and mailing address; Connect sends them to Salesforce."""
    form = {f.lower(): request.form.get(f.lower(), "") for f in contacts.EDITABLE}
    try:
        values = contact_values(form)
    except field_values.Invalid as exc:
        return _profile_page(form=form, errors=exc.errors, status=400)
    with database.connection() as conn:
        changed = contacts.update_contact(conn, _schema(), current_customer(), values)
        if changed:
            freshness.remember_write(conn)
    flash("Saved. Your changes are on their way to Salesforce." if changed else "Nothing changed.", "success")
    return redirect(url_for("portal.profile"))


@bp.get("/profile/status.json")
@customer_required
def profile_status():
    """The contact's sync status, for the badge to update in place."""
    with database.connection() as conn:
        row = contacts.sync_state(conn, _schema(), current_customer())
    return _sync_status(row)


@bp.post("/profile/retry")
@customer_required
def retry_profile():
    """Send a contact update that Salesforce refused once more."""
    with database.connection() as conn:
        if not contacts.retry_update(conn, _schema(), current_customer()):
            abort(409, "Only changes that could not be saved can be sent again.")
        freshness.remember_write(conn)
    flash("Sending your changes again.", "success")
    return redirect(url_for("portal.profile"))


@bp.post("/profile/api-tokens")
@customer_required
def create_api_token():
    """Create an API token; it is shown once, only its hash is kept."""
    name = request.form.get("name", "").strip()[:60] or "token"
    with database.connection() as conn:
        token = logins.create_api_token(conn, current_app.config["APP"].app_schema, current_customer().user_id, name)
    return _profile_page(new_token=token)


@bp.post("/profile/api-tokens/<int:token_id>/delete")
@customer_required
def revoke_api_token(token_id):
    """Revoke one of the user's API tokens."""
    with database.connection() as conn:
        app_schema = current_app.config["APP"].app_schema
        if not logins.revoke_api_token(conn, app_schema, current_customer().user_id, token_id):
            abort(404, "No such token.")
    flash("Token revoked.", "success")
    return redirect(url_for("portal.profile"))


def _sync_status(row: dict | None, missing: str | None = None):
    """A row's sync status as the badge's JSON, never cached; 404 (saying `missing`) when there is no row."""
    if row is None:
        abort(404, missing)
    response = jsonify(connect.sync_status(row["_hc_lastop"], row["_hc_err"]))
    response.headers["Cache-Control"] = "no-store"
    return response
