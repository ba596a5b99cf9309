"""An account's invoices (Invoice__c rows with Account__c = the account), as the portal shows them.

Invoices are monthly per account (Period__c 'YYYY-MM'). Which orders an invoice covers is recorded
by the invoicing feature's ledger; until that is in place, an order's invoices are the account's
invoices for the month of the order's EffectiveDate.
"""

from psycopg import sql

INVOICE_COLUMNS = """i.sfid, i.external_id__c, i.name, i.period__c, i.amount__c, i.tax__c, i.order_count__c,
       i.status__c, i.due_date__c, i._hc_lastop, i._hc_err"""

LIST_INVOICES = """
SELECT {columns}
FROM {s}.invoice__c i
WHERE i.account__c = %(account)s AND NOT coalesce(i.isdeleted, false)
ORDER BY i.period__c DESC NULLS LAST, i.id DESC
LIMIT %(limit)s
"""

# An invoice is named by its Salesforce Id or, before Connect has inserted it, by its external id.
GET_INVOICE = """
SELECT {columns}
FROM {s}.invoice__c i
WHERE (i.sfid = %(key)s OR i.external_id__c = %(key)s) AND i.account__c = %(account)s
LIMIT 1
"""

ORDER_INVOICES = """
SELECT {columns}
FROM {s}.invoice__c i
JOIN {s}."order" o ON o.accountid = i.account__c AND i.period__c = to_char(o.effectivedate, 'YYYY-MM')
WHERE o.sfid = %(order)s AND o.accountid = %(account)s AND NOT coalesce(i.isdeleted, false)
ORDER BY i.id
"""


def _query(text: str, schema: str) -> sql.Composed:
    return sql.SQL(text).format(columns=sql.SQL(INVOICE_COLUMNS), s=sql.Identifier(schema))


def list_invoices(conn, schema: str, account: str, limit: int = 120) -> list[dict]:
    """The account's invoices, newest period first."""
    return conn.execute(_query(LIST_INVOICES, schema), {"account": account, "limit": limit}).fetchall()


def get_invoice(conn, schema: str, account: str, key: str) -> dict | None:
    """One of the account's invoices by sfid or external id, or None."""
    return conn.execute(_query(GET_INVOICE, schema), {"account": account, "key": key}).fetchone()


def order_invoices(conn, schema: str, account: str, order_sfid: str) -> list[dict]:
    """The account's invoices for the month of the order's effective date."""
    return conn.execute(_query(ORDER_INVOICES, schema), {"account": account, "order": order_sfid}).fetchall()
