"""An account's invoices (Invoice__c rows with Account__c = the account), as the portal shows them.

Invoices are monthly per account (Period__c 'YYYY-MM'). Which orders an invoice covers is recorded
by batch invoicing's ledger (`app.invoice_lines`, docs/batch-invoicing.md). An order in the ledger
shows the invoice the ledger names; an order not in it (invoiced elsewhere, or not yet) shows the
account's invoices for the month of its EffectiveDate.
"""

from psycopg import sql

from core import trigger_log

INVOICE_COLUMNS = """i.sfid, i.external_id__c, i.name, i.period__c, i.amount__c, i.tax__c, i.order_count__c,
       i.status__c, i.due_date__c, i._hc_lastop, i._hc_err, i.systemmodstamp, {retrying} AS retrying"""
# An invoice is named by its Salesforce Id or, before Connect has inserted it, by its external id.
MATCH = "(i.sfid = %(key)s OR i.external_id__c = %(key)s) AND i.account__c = %(account)s"

LIST_INVOICES = """
SELECT {columns}
FROM {s}.invoice__c i
WHERE i.account__c = %(account)s AND NOT coalesce(i.isdeleted, false)
ORDER BY i.period__c DESC NULLS LAST, i.id DESC
LIMIT %(limit)s
"""

GET_INVOICE = """
SELECT {columns}
FROM {s}.invoice__c i
WHERE {match}
LIMIT 1
"""

# What the badge needs: how far the invoice's last write has got on its way to Salesforce.
SYNC_STATE = """
SELECT i._hc_lastop, i._hc_err, {retrying} AS retrying
FROM {s}.invoice__c i
WHERE {match}
LIMIT 1
"""

ORDER_INVOICES = """
SELECT {columns}
FROM {s}.invoice__c i
JOIN {s}."order" o ON o.accountid = i.account__c
WHERE o.sfid = %(order)s AND o.accountid = %(account)s AND NOT coalesce(i.isdeleted, false)
  AND (EXISTS (SELECT 1 FROM {app}.invoice_lines l
               WHERE l.order_sfid = o.sfid AND l.invoice_external_id = i.external_id__c)
       OR (NOT EXISTS (SELECT 1 FROM {app}.invoice_lines l WHERE l.order_sfid = o.sfid)
           AND i.period__c = to_char(o.effectivedate, 'YYYY-MM')))
ORDER BY i.id
"""


def _query(text: str, schema: str, app_schema: str = "app") -> sql.Composed:
    """Compose an invoice query with its columns and schemas."""
    retrying = trigger_log.retrying(schema, "invoice__c", "i")
    return sql.SQL(text).format(
        columns=sql.SQL(INVOICE_COLUMNS).format(retrying=retrying), s=sql.Identifier(schema),
        app=sql.Identifier(app_schema), match=sql.SQL(MATCH), retrying=retrying,
    )


def list_invoices(conn, schema: str, account: str, limit: int = 120) -> list[dict]:
    """The account's invoices, newest period first."""
    return conn.execute(_query(LIST_INVOICES, schema), {"account": account, "limit": limit}).fetchall()


def get_invoice(conn, schema: str, account: str, key: str) -> dict | None:
    """One of the account's invoices by sfid or external id, or None."""
    return conn.execute(_query(GET_INVOICE, schema), {"account": account, "key": key}).fetchone()


def order_invoices_query(schema: str, app_schema: str) -> sql.Composed:
    """ORDER_INVOICES for the schemas (params: account, order)."""
    return _query(ORDER_INVOICES, schema, app_schema)


def order_invoices(conn, schema: str, app_schema: str, account: str, order_sfid: str) -> list[dict]:
    """The invoices the ledger says cover the order, else the account's invoices for the order's month."""
    query = order_invoices_query(schema, app_schema)
    return conn.execute(query, {"account": account, "order": order_sfid}).fetchall()


def sync_state(conn, schema: str, account: str, key: str) -> dict | None:
    """One of the account's invoices' `_hc_lastop` / `_hc_err` and whether a retry is on its way, or None."""
    return conn.execute(_query(SYNC_STATE, schema), {"account": account, "key": key}).fetchone()
