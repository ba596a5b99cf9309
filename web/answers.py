"""What the portal's pages and the JSON API answer alike, before each renders it as HTML or JSON.

Both serve the logged-in customer the same rows, scoped to the account in SQL by core: the
orders page, an order, a case, an invoice, the contact, a sync status, "send again". Each answer
is decided here once (which connection reads it, the 400 for a bad filter, the 404 for a row the
account does not have, the 409 for a retry that cannot be), so the two cannot drift apart. Errors
go through abort(), which web/errors.py renders as a page or as problem details.
"""

from flask import abort, current_app, jsonify

from core import account_invoices, cases, connect, connect_info, contacts, journey, orders, write_retries
from web import database, freshness
from web.identity import current_customer, customer_required

RETRY_REFUSALS = {
    write_retries.Outcome.NOT_FOUND: 404,
    write_retries.Outcome.NOT_FAILED: 409,
    write_retries.Outcome.SAVE_AGAIN: 409,
}


def _schema() -> str:
    """The Connect schema's name."""
    return current_app.config["APP"].connect_schema


def found(row, missing: str):
    """The row, or a 404 saying `missing`."""
    if row is None:
        abort(404, missing)
    return row


def order_page(args) -> tuple[dict, list[dict], str | None]:
    """The filters from a query string (400 if malformed), one page of the account's orders, the next cursor."""
    try:
        filters = orders.list_filters(args)
    except orders.BadFilter as exc:
        abort(400, str(exc))
    with freshness.reading() as conn:
        rows, cursor = orders.list_orders(conn, _schema(), current_customer().account_sfid, **filters)
    return filters, rows, cursor


def order(order_sfid: str) -> dict:
    """One of the account's orders with its items, invoices and cases (core.orders.order_detail)."""
    with freshness.reading() as conn:
        detail = orders.order_detail(conn, _schema(), current_app.config["APP"].app_schema,
                                     current_customer().account_sfid, order_sfid)
    return found(detail, "No such order in your account.")


def _account_read(query, *args):
    """`query(conn, schema, account, *args)` for the logged-in customer's account, on the read connection."""
    with freshness.reading() as conn:
        return query(conn, _schema(), current_customer().account_sfid, *args)


def list_cases() -> list[dict]:
    """The account's cases, newest first."""
    return _account_read(cases.list_cases)


def case(key: str) -> dict:
    """One of the account's cases, by Salesforce Id or external id."""
    return found(_account_read(cases.get_case, key), "No such case in your account.")


def list_invoices() -> list[dict]:
    """The account's invoices, newest period first."""
    return _account_read(account_invoices.list_invoices)


def invoice(key: str) -> dict:
    """One of the account's invoices, by Salesforce Id or external id."""
    return found(_account_read(account_invoices.get_invoice, key), "No such invoice in your account.")


def contact() -> dict:
    """The customer's own Contact."""
    with freshness.reading() as conn:
        return found(contacts.get_contact(conn, _schema(), current_customer()), "Your contact record is not available.")


def sync_status(row, missing: str):
    """A row's sync status as the badge's JSON, never cached (it changes while it is polled); 404 without a row."""
    response = jsonify(connect.row_status(found(row, missing)))
    response.headers["Cache-Control"] = "no-store"
    return response


@customer_required
def case_status(key: str):
    """A view, the same for the portal's badge and the API: the case's sync status, never cached."""
    # Polled right after the write: the primary, so the answer is never older than the page.
    with database.connection() as conn:
        row = cases.sync_state(conn, _schema(), current_customer().account_sfid, key)
    return sync_status(row, "No such case in your account.")


def _with_link(answer: dict | None, missing: str) -> dict:
    """A journey with its "View in Salesforce" link (SALESFORCE_ORG_URL, once there is an sfid); 404 without one."""
    answer = found(answer, missing)
    answer["record_url"] = journey.record_url(current_app.config["APP"], answer["object"], answer["sfid"])
    return answer


def _journey(read, missing: str, *args) -> dict:
    """`read(conn, schema, *args)`'s journey, with when Connect last polled its mapping (as far as the
    ConnectInfo knows: on Heroku it does not) and its "View in Salesforce" link; 404 without a record."""
    info = connect_info.provider(current_app.config["APP"].connect_info)
    with freshness.reading() as conn:
        answer = read(conn, _schema(), *args)
        if answer is not None:
            journey.with_last_poll(answer, info.mappings(conn).get(answer["object"], {}).get("polled_at"))
    return _with_link(answer, missing)


def case_journey(key: str) -> dict:
    """The journey of one of the account's cases (404 for any other)."""
    return _journey(journey.case, "No such case in your account.", current_customer().account_sfid, key)


def invoice_journey(key: str) -> dict:
    """The journey of one of the account's invoices (404 for any other)."""
    return _journey(journey.invoice, "No such invoice in your account.", current_customer().account_sfid, key)


def contact_journey() -> dict:
    """The journey of the customer's own Contact."""
    return _journey(journey.contact, "Your contact record is not available.", current_customer())


def journey_json(answer: dict):
    """A journey as JSON, never cached: it changes while the page polls it."""
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


def send_again(target: write_retries.Target) -> write_retries.Result:
    """Send the target's refused write again (core/write_retries.py); 404 or 409 with the reason when it cannot be."""
    with database.connection() as conn:
        result = write_retries.retry(conn, _schema(), target)
        if result.outcome is write_retries.Outcome.RETRIED:
            freshness.remember_write(conn)
    if result.outcome is not write_retries.Outcome.RETRIED:
        abort(RETRY_REFUSALS[result.outcome], result.message)
    return result
