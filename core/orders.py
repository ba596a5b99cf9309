"""An account's orders, read from Connect's tables: the list (keyset-paged), one order with all it shows.

Every query takes the account's Salesforce Id and filters by it in SQL, so another account's
order id simply finds nothing. Orders, items and products are read-only mappings: never written.
"""

import functools
import re
from datetime import date

from psycopg import sql

from core import account_invoices, cases, connect

PAGE_SIZE = 25
STATUSES = tuple(v["value"] for v in connect.field_definition("Order", "Status")["picklistValues"])
# The shapes the API's OpenAPI document declares too (web/openapi.py).
CURSOR_PATTERN = r"^([1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))~([A-Za-z0-9]{18})$"
NUMBER_PATTERN = r"^[A-Za-z0-9-]{0,30}$"  # empty: no filter
# Empty `after` means the first page; the document says so with this alternative.
CURSOR_OR_EMPTY = f"^$|{CURSOR_PATTERN}"
_CURSOR = re.compile(CURSOR_PATTERN)
_NUMBER = re.compile(NUMBER_PATTERN)

ORDER_COLUMNS = """o.sfid, o.ordernumber, o.status, o.effectivedate, o.totalamount, o.ponumber, o.type,
       o.activateddate, o.description, o.systemmodstamp"""
# What a list shows (the portal's table, the API's list): an order's page shows the rest.
LIST_COLUMNS = "o.sfid, o.ordernumber, o.status, o.effectivedate, o.totalamount, o.ponumber, o.type, o.systemmodstamp"

# Newest first, by (effectivedate, sfid): the index app_idx_order_account_effective (sql/connect_indexes.sql)
# returns the rows in exactly this order, so a page costs the same at page 1 and page 400 —
# unlike OFFSET, which reads and discards every row before the page.
LIST_ORDERS = """
SELECT {columns}
FROM {s}."order" o
WHERE o.accountid = %(account)s {filters}
ORDER BY o.effectivedate DESC, o.sfid DESC
LIMIT %(limit)s
"""
# Filters are added as fixed fragments, never as `%(x)s IS NULL OR …`, which would keep Postgres
# from choosing the index once a generic plan is cached.
AFTER = " AND (o.effectivedate, o.sfid) < (%(after_date)s, %(after_sfid)s)"
BY_STATUS = " AND o.status = %(status)s"
# Order numbers carry leading zeros (00001234); customers type 1234.
BY_NUMBER = " AND ltrim(o.ordernumber, '0') = ltrim(%(number)s, '0')"

GET_ORDER = """
SELECT {columns}
FROM {s}."order" o
WHERE o.sfid = %(order)s AND o.accountid = %(account)s
"""

# The order's account is checked in the same statement: items of another account's order are never read.
ORDER_ITEMS = """
SELECT i.orderitemnumber, i.quantity, i.unitprice, i.totalprice, i.description,
       p.name AS product_name, p.productcode
FROM {s}.orderitem i
JOIN {s}."order" o ON o.sfid = i.orderid
LEFT JOIN {s}.product2 p ON p.sfid = i.product2id
WHERE i.orderid = %(order)s AND o.accountid = %(account)s
ORDER BY i.orderitemnumber
"""


class BadFilter(ValueError):
    """A list filter the app cannot use; the message says what to send instead."""


class BadCursor(BadFilter):
    """A page cursor that this app did not produce."""


def list_filters(args) -> dict:
    """Status, order number and page cursor from a query string (a mapping); BadFilter if one is malformed."""
    status = (args.get("status") or "").strip() or None
    number = (args.get("number") or "").strip() or None
    if status and status not in STATUSES:
        raise BadFilter(f"Unknown status {status[:40]!r}: choose one of {', '.join(STATUSES)}.")
    if number and not _NUMBER.match(number):
        raise BadFilter("An order number has up to 30 letters, digits and dashes.")
    after = args.get("after") or None
    if after:
        parse_cursor(after)
    return {"status": status, "number": number, "after": after}


def cursor_for(row: dict) -> str:
    """The cursor of the page after `row`."""
    return f"{row['effectivedate'].isoformat()}~{row['sfid']}"


def parse_cursor(value: str) -> tuple[date, str]:
    """(effectivedate, sfid) from a cursor; BadCursor if malformed."""
    match = _CURSOR.match(value or "")
    if not match:
        raise BadCursor("That page link is not valid: start again from the first page.")
    try:
        return date.fromisoformat(match[1]), match[2]
    except ValueError:
        raise BadCursor("That page link is not valid: start again from the first page.") from None


def list_orders(conn, schema: str, account: str, *, status=None, number=None, after=None, limit=PAGE_SIZE):
    """One page of the account's orders, newest first, and the cursor of the next page (or None)."""
    params = {"account": account, "limit": limit + 1}
    filters = ""
    if status:
        filters += BY_STATUS
        params["status"] = status
    if number:
        filters += BY_NUMBER
        params["number"] = number
    if after:
        params["after_date"], params["after_sfid"] = parse_cursor(after)
        filters += AFTER
    rows = conn.execute(_list_query(schema, filters), params).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (cursor_for(rows[-1]) if more else None)


@functools.cache
def _list_query(schema: str, filters: str) -> str:
    """The list query for a schema and a set of filter fragments, composed once per process.

    There are eight such sets at most; the page is the portal's busiest, and composing the SQL
    (quoting the schema name) on every request was a measurable share of its cost.
    """
    return sql.SQL(LIST_ORDERS).format(
        columns=sql.SQL(LIST_COLUMNS), s=sql.Identifier(schema), filters=sql.SQL(filters)
    ).as_string()


def get_order(conn, schema: str, account: str, order_sfid: str) -> dict | None:
    """One of the account's orders, or None (also for another account's order)."""
    query = sql.SQL(GET_ORDER).format(columns=sql.SQL(ORDER_COLUMNS), s=sql.Identifier(schema))
    return conn.execute(query, {"account": account, "order": order_sfid}).fetchone()


def order_items(conn, schema: str, account: str, order_sfid: str) -> list[dict]:
    """The order's items with product names, if the order is the account's."""
    query = sql.SQL(ORDER_ITEMS).format(s=sql.Identifier(schema))
    return conn.execute(query, {"account": account, "order": order_sfid}).fetchall()


@functools.cache
def _detail_queries(schema: str, app_schema: str) -> tuple[str, ...]:
    """The order page's four statements, composed once per process (quoting names costs on every request)."""
    return tuple(q.as_string() for q in (
        sql.SQL(GET_ORDER).format(columns=sql.SQL(ORDER_COLUMNS), s=sql.Identifier(schema)),
        sql.SQL(ORDER_ITEMS).format(s=sql.Identifier(schema)),
        account_invoices.order_invoices_query(schema, app_schema),
        cases.list_query(schema, for_order=True),
    ))


def order_detail(conn, schema: str, app_schema: str, account: str, order_sfid: str) -> dict | None:
    """One of the account's orders with its items, invoices and cases; None for any other order.

    The four reads go to Postgres in one pipeline: one round trip instead of four, on the portal's
    heaviest page (each is scoped to the account on its own, so reading all four is safe even when
    the order turns out not to be the account's).
    """
    params = {"account": account, "order": order_sfid, "limit": 100}
    with conn.pipeline():
        found, items, invoices, listed = [conn.execute(q, params) for q in _detail_queries(schema, app_schema)]
    order = found.fetchone()
    if order is None:
        return None
    return {"order": order, "items": items.fetchall(), "invoices": invoices.fetchall(), "cases": listed.fetchall()}
