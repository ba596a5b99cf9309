"""The customer portal: orders, invoices, support cases and the contact's profile.

Every page reads with the account's Salesforce Id from the session and passes it to queries that
filter by it in SQL (core/orders.py, core/cases.py, …): another account's id finds nothing, so it
is a 404. Writes go to Connect's read-write tables (Case, Contact); each shows its sync status,
which the page keeps up to date by polling a small JSON endpoint (static/journey.js). A case, the
profile and an invoice also show the journey of their latest change, hop by hop (core/journey.py),
from their own `journey.json`.
"""

from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from core import account_invoices, cases, connect, contacts, field_values, journey, logins, orders, write_retries
from web import answers, database, freshness
from web.identity import current_customer, customer_required, log_out

bp = Blueprint("portal", __name__)


def _schema() -> str:
    """The Connect schema's name."""
    return current_app.config["APP"].connect_schema


# The org's currency. The mapped objects carry no CurrencyIsoCode (a single-currency org); in a
# multi-currency org, map CurrencyIsoCode and pass each row's: `amount | money(row.currencyisocode)`.
ORG_CURRENCY = "USD"
bp.add_app_template_global(ORG_CURRENCY, "org_currency")  # for scripts that format amounts in the page


@bp.app_template_filter("money")
def money(value, currency: str | None = None) -> str:
    """1234.5 → 'USD 1,234.50', in the row's currency or the org's (blank for None; numeric text read as a number)."""
    if value is None:
        return ""
    return f"{currency or ORG_CURRENCY} {Decimal(value) if isinstance(value, str) else value:,.2f}"


# A hop's state (core/journey.py) → its SLDS classes; journey.js keeps the same table.
HOP_CLASSES = {journey.DONE: "slds-is-completed", journey.CURRENT: "slds-is-active", journey.FAILED: "slds-has-error"}
BADGE_CLASSES = {journey.DONE: "slds-theme_success", journey.CURRENT: "slds-theme_warning",
                 journey.FAILED: "slds-theme_error"}


@bp.app_template_global("journey_hop_class")
def journey_hop_class(state: str) -> str:
    """The progress item's class for a hop's state."""
    return HOP_CLASSES.get(state, "")


@bp.app_template_global("journey_badge_class")
def journey_badge_class(state: str) -> str:
    """The badge's theme for a hop's state (its word says the same)."""
    return BADGE_CLASSES.get(state, "")


@bp.app_template_global("last_synced")
def last_synced(rows) -> dict | None:
    """{iso, ago} of the newest systemmodstamp among the rows a page shows (None: none came from Salesforce)."""
    return journey.last_synced(rows)


@bp.app_template_global("sync_status")
def sync_status(row) -> dict:
    """The badge for a row's `_hc_lastop` / `_hc_err` (and a retry on its way)."""
    return connect.row_status(row)


@bp.get("/orders", endpoint="orders")
@customer_required
def orders_page():
    """The account's orders, newest first, a page at a time."""
    filters, rows, next_cursor = answers.order_page(request.args)
    return render_template(
        "portal/orders.html", orders=rows, next_cursor=next_cursor, statuses=orders.STATUSES, **filters
    )


def _order_page(order_sfid: str, form=None, errors=None, status=200):
    """Render an order of the customer's account (404 for any other), with the case form."""
    return render_template(
        "portal/order.html", **answers.order(order_sfid), form=form or {}, errors=errors or {},
        case_types=cases.TYPES, priorities=cases.PRIORITIES,
    ), status


@bp.get("/orders/<order_sfid>")
@customer_required
def order(order_sfid):
    """One order: items with products, status, invoices, cases, and the form to file a case."""
    return _order_page(order_sfid)


@bp.post("/orders/<order_sfid>/cases")
@customer_required
def file_case(order_sfid):
    """File a support case about the order; it goes to Salesforce through Connect."""
    form = {f.lower(): request.form.get(f.lower(), "") for f in cases.FIELDS}
    try:
        values = cases.case_values(form)
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
    return render_template("portal/cases.html", cases=answers.list_cases())


@bp.get("/cases/<key>")
@customer_required
def case(key):
    """One case, with the journey of its latest change."""
    return render_template("portal/case.html", case=answers.case(key), key=key, journey=answers.case_journey(key))


@bp.get("/cases/<key>/journey.json")
@customer_required
def case_journey(key):
    """The case's journey to Salesforce and back, for the page to follow live."""
    return answers.journey_json(answers.case_journey(key))


# The badge polls it to update in place; the API answers the same at /api/v1/cases/<key>/status.
bp.add_url_rule("/cases/<key>/status.json", view_func=answers.case_status)


@bp.post("/cases/<key>/retry")
@customer_required
def retry_case(key):
    """Send a case that Salesforce refused once more."""
    answers.send_again(write_retries.case(current_customer().account_sfid, key))
    flash("Sending your case again.", "success")
    return redirect(url_for("portal.case", key=key))


@bp.get("/invoices")
@customer_required
def invoices():
    """The account's invoices."""
    return render_template("portal/invoices.html", invoices=answers.list_invoices())


@bp.get("/invoices/<key>")
@customer_required
def invoice(key):
    """One invoice."""
    invoice = answers.invoice(key)
    return render_template("portal/invoice.html", invoice=invoice, journey=answers.invoice_journey(key))


@bp.get("/invoices/<key>/journey.json")
@customer_required
def invoice_journey(key):
    """The invoice's journey to Salesforce and back (batch invoicing writes it), for the page to follow live."""
    return answers.journey_json(answers.invoice_journey(key))


@bp.get("/invoices/<key>/status.json")
@customer_required
def invoice_status(key):
    """The invoice's sync status (invoices are written by batch invoicing, and reach Salesforce through Connect)."""
    with freshness.reading() as conn:
        row = account_invoices.sync_state(conn, _schema(), current_customer().account_sfid, key)
    return answers.sync_status(row, "No such invoice in your account.")


def _profile_page(form=None, errors=None, status=200, new_token=None):
    """Render the customer's own Contact, the edit form and the API tokens."""
    customer = current_customer()
    with freshness.reading() as conn:
        contact = contacts.get_contact(conn, _schema(), customer)
        tokens = logins.api_tokens(conn, current_app.config["APP"].app_schema, customer.user_id)
    contact = answers.found(contact, "Your contact record is not available.")
    return render_template(
        "portal/profile.html", contact=contact, form=form or contact, errors=errors or {}, tokens=tokens,
        new_token=new_token, journey=answers.contact_journey(),
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
        values = contacts.contact_values(form)
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
    return answers.sync_status(row, "Your contact record is not available.")


@bp.get("/profile/journey.json")
@customer_required
def profile_journey():
    """The contact's journey and its current values, for the page to follow changes either way."""
    return answers.journey_json(answers.contact_journey())


@bp.post("/profile/retry")
@customer_required
def retry_profile():
    """Send a contact update that Salesforce refused once more."""
    answers.send_again(write_retries.contact(current_customer()))
    flash("Sending your changes again.", "success")
    return redirect(url_for("portal.profile"))


@bp.post("/profile/log-out-everywhere")
@customer_required
def log_out_everywhere():
    """End every session of this login, on every device (API tokens stay until revoked)."""
    log_out()
    flash("You are logged out on every device.", "success")
    return redirect(url_for("auth.login"))


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
