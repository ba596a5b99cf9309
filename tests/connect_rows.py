"""Rows in the Connect tables, written the way Heroku Connect writes them (xmlbinary = 'hex')."""

from standins.connect.writes import as_connect

# Set-based: accounts 1..n, orders spread over them, invoices for the first accounts.
_ACCOUNTS = """
INSERT INTO salesforce.account (sfid, name, accountnumber)
SELECT '001' || lpad(n::text, 15, '0'), 'Account ' || n, 'ACC-' || lpad(n::text, 8, '0')
FROM generate_series(1, %(accounts)s) AS n
"""
_ORDERS = """
INSERT INTO salesforce."order" (sfid, accountid, ordernumber, status, effectivedate, totalamount, ponumber, type,
                                isdeleted)
SELECT '801' || lpad(n::text, 15, '0'), '001' || lpad((1 + n %% %(accounts)s)::text, 15, '0'),
       lpad(n::text, 8, '0'), 'Activated', date '2026-01-01' + (n %% 300), (n %% 1000) + 0.5, 'PO-' || n, 'Standard',
       false
FROM generate_series(1, %(orders)s) AS n
"""
_INVOICES = """
INSERT INTO salesforce.invoice__c (sfid, name, account__c, period__c, amount__c, tax__c, order_count__c, status__c,
                                   due_date__c, external_id__c, isdeleted)
SELECT 'a01' || lpad(n::text, 15, '0'), 'INV-' || n, '001' || lpad((1 + n %% %(accounts)s)::text, 15, '0'),
       '2026-10', n * 10.0, n * 2.0, 3, 'Sent', date '2026-12-01', 'inv-' || n, false
FROM generate_series(1, %(invoices)s) AS n
"""


def load(conn, *, accounts: int = 3, orders: int = 30, invoices: int = 0) -> None:
    """Insert synced accounts, orders and invoices; order n belongs to account 1 + n % accounts."""
    with as_connect(conn):
        params = {"accounts": accounts, "orders": orders, "invoices": invoices}
        conn.execute(_ACCOUNTS, params)
        conn.execute(_ORDERS, params)
        conn.execute(_INVOICES, params)


def account_sfid(n: int) -> str:
    """The sfid load() gives account n."""
    return "001" + str(n).rjust(15, "0")
