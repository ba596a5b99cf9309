"""CSV exports of Connect tables: what each export selects, and how its rows come out of Postgres.

Rows leave Postgres through `COPY (SELECT …) TO STDOUT (FORMAT csv)`: the server formats the CSV
itself, so Python only passes bytes along. An export is read in keyset chunks on the table's
primary key (`id > after AND id <= upto`, ORDER BY id): every chunk is one bounded query, so rows
keep flowing (a stream never goes quiet for long), memory stays flat, and a background job can
commit each chunk with a checkpoint and resume after an interruption instead of starting over.

Connect's `id` column is only a physical key (never a business key), which is all keyset paging
needs. Both the streamed response (web) and the background job (worker) use this module.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from psycopg import sql

# Rows per chunk: each chunk's query stays well under a second, and a job commits ~2 MB at a time.
CHUNK_ROWS = 20_000
# Bytes gathered before a piece is handed on: one socket write per ~64 KB, not one per row.
PIECE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Export:
    """One CSV export: its header row and the SQL pieces for its rows."""

    name: str
    title: str
    filename: str
    headers: tuple[str, ...]
    columns: str  # the SELECT list, in header order
    source: str  # FROM … WHERE …, with the scope; the keyset condition is appended
    key: str  # the primary key column, qualified by the alias used in `source`

    def header_row(self) -> bytes:
        """The CSV header line, sent before any query runs."""
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(self.headers)
        return out.getvalue().encode()


ORDER_HEADERS = ("Order number", "Salesforce Id", "Account number", "Account", "Effective date", "Status",
                 "Type", "PO number", "Total amount", "Activated")
# Free text typed by Salesforce users goes through csv_text() (migration 0200): no formula injection.
ORDER_COLUMNS = """
    o.ordernumber, o.sfid, a.accountnumber, {app}.csv_text(a.name), o.effectivedate, o.status,
    o.type, {app}.csv_text(o.ponumber), o.totalamount, o.activateddate
"""
ALL_ORDERS_SOURCE = """
    FROM {connect}."order" o LEFT JOIN {connect}.account a ON a.sfid = o.accountid
    WHERE NOT coalesce(o.isdeleted, false)
"""
# The customer's scope is in SQL, from the session's account: never a parameter the user sends.
ACCOUNT_ORDERS_SOURCE = ALL_ORDERS_SOURCE + " AND o.accountid = %(account_sfid)s"

INVOICE_HEADERS = ("Invoice", "Salesforce Id", "External ID", "Account number", "Account", "Period", "Amount",
                   "Tax", "Orders", "Status", "Due date", "Sync state")
INVOICE_COLUMNS = """
    {app}.csv_text(i.name), i.sfid, i.external_id__c, a.accountnumber, {app}.csv_text(a.name), i.period__c,
    i.amount__c, i.tax__c, i.order_count__c, i.status__c, i.due_date__c, i._hc_lastop
"""
INVOICES_SOURCE = """
    FROM {connect}.invoice__c i LEFT JOIN {connect}.account a ON a.sfid = i.account__c
    WHERE NOT coalesce(i.isdeleted, false)
"""

EXPORTS = {
    e.name: e
    for e in (
        Export("orders", "All orders", "orders.csv", ORDER_HEADERS, ORDER_COLUMNS, ALL_ORDERS_SOURCE, "o.id"),
        Export("account-orders", "Your orders", "orders.csv", ORDER_HEADERS, ORDER_COLUMNS,
               ACCOUNT_ORDERS_SOURCE, "o.id"),
        Export("invoices", "All invoices", "invoices.csv", INVOICE_HEADERS, INVOICE_COLUMNS, INVOICES_SOURCE,
               "i.id"),
    )
}

# The last key of the next chunk: at most `rows` keys past `after` (an index-only scan), NULL at the end.
_NEXT_UPTO = """
SELECT max(k) AS upto FROM (SELECT {key} AS k {source} AND {key} > %(after)s ORDER BY {key} LIMIT %(rows)s) s
"""
_COUNT = "SELECT count(*) AS n {source}"
_COPY = """
COPY (SELECT {columns} {source} AND {key} > %(after)s AND {key} <= %(upto)s ORDER BY {key}) TO STDOUT (FORMAT csv)
"""
# The whole export as one statement: what a DBA would run by hand (bench/exports.py's baseline).
_COPY_ALL = "COPY (SELECT {columns} {source} ORDER BY {key}) TO STDOUT (FORMAT csv)"


def _render(template: str, export: Export, connect_schema: str, app_schema: str) -> sql.Composed:
    """A statement template with the export's columns, source and key, and the schemas, filled in."""
    names = {"connect": sql.Identifier(connect_schema), "app": sql.Identifier(app_schema)}
    return sql.SQL(template).format(
        columns=sql.SQL(export.columns).format(**names),
        source=sql.SQL(export.source).format(**names),
        key=sql.SQL(export.key),
    )


def get(name: str) -> Export:
    """The export called `name` (KeyError for an unknown one)."""
    return EXPORTS[name]


def count(conn, export: Export, params: dict, connect_schema: str, app_schema: str) -> int:
    """How many rows the export has now (for a progress bar's total)."""
    return conn.execute(_render(_COUNT, export, connect_schema, app_schema), params).fetchone()["n"]


def next_upto(conn, export: Export, params: dict, after: int, connect_schema: str, app_schema: str,
              rows: int | None = None) -> int | None:
    """The key that ends the chunk after `after` (CHUNK_ROWS rows on), or None when no rows are left."""
    statement = _render(_NEXT_UPTO, export, connect_schema, app_schema)
    return conn.execute(statement, {**params, "after": after, "rows": rows or CHUNK_ROWS}).fetchone()["upto"]


def copy_chunk(conn, export: Export, params: dict, after: int, upto: int, connect_schema: str,
               app_schema: str) -> Iterator[tuple[bytes, int]]:
    """Yield (csv bytes, rows in them) for keys in (after, upto], in pieces of about PIECE_BYTES.

    Closing the iterator early (a client went away) leaves psycopg's copy block with an
    exception, and psycopg then cancels the COPY on the server: the query stops.
    """
    statement = _render(_COPY, export, connect_schema, app_schema)
    buffer, rows = bytearray(), 0
    with conn.cursor().copy(statement, {**params, "after": after, "upto": upto}) as copy:
        # Postgres sends one COPY message per row.
        for data in copy:
            buffer += data
            rows += 1
            if len(buffer) >= PIECE_BYTES:
                yield bytes(buffer), rows
                buffer.clear()
                rows = 0
    if buffer:
        yield bytes(buffer), rows


def stream(conn, export: Export, params: dict, connect_schema: str, app_schema: str,
           rows: int | None = None) -> Iterator[bytes]:
    """The export's rows chunk after chunk (no header), as CSV pieces; run it inside one transaction."""
    after = 0
    while (upto := next_upto(conn, export, params, after, connect_schema, app_schema, rows)) is not None:
        for piece, _ in copy_chunk(conn, export, params, after, upto, connect_schema, app_schema):
            yield piece
        after = upto


def copy_all_statement(export: Export, connect_schema: str, app_schema: str) -> sql.Composed:
    """The whole export as a single COPY statement (the benchmark's baseline)."""
    return _render(_COPY_ALL, export, connect_schema, app_schema)
