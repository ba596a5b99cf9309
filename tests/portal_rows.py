"""A small portal world in the Connect tables: two accounts, their contacts, orders, items, invoices.

Rows are written as Connect writes them (xmlbinary 'hex': SYNCED, no trigger-log rows); logins are
made with core.logins, as `python manage.py invite` and the invitation page would.
"""

from core import logins
from standins.connect.writes import as_connect

ACCOUNT_A, ACCOUNT_B = "001A00000000000AAA", "001B00000000000AAA"
CONTACT_A, CONTACT_B = "003A00000000000AAA", "003B00000000000AAA"
EXT_A, EXT_B = "6f1c0d3e-0000-4000-8000-00000000000a", "6f1c0d3e-0000-4000-8000-00000000000b"
EMAIL_A, EMAIL_B = "ann.lee.1@example.com", "bob.ray.2@example.com"
PASSWORD = "correct horse battery"
ORDERS_A = 30


def order_sfid(account: str, n: int) -> str:
    """The sfid of account's order n (1-based)."""
    return f"801{account[3]}{n:011d}AAA"


def invoice_sfid(account: str, n: int) -> str:
    """The sfid of account's invoice n."""
    return f"a0I{account[3]}{n:011d}AAA"


_ACCOUNTS = """
INSERT INTO salesforce.account (sfid, name, accountnumber, isdeleted)
VALUES (%(a)s, 'Acme Corp', 'ACC-00000001', false), (%(b)s, 'Globex', 'ACC-00000002', false)
"""
_CONTACTS = """
INSERT INTO salesforce.contact (sfid, accountid, firstname, lastname, name, email, phone, mailingcity,
                                external_id__c, isdeleted)
VALUES (%(ca)s, %(a)s, 'Ann', 'Lee', 'Ann Lee', %(ea)s, '+1 555 0100', 'Springfield', %(xa)s, false),
       (%(cb)s, %(b)s, 'Bob', 'Ray', 'Bob Ray', %(eb)s, '+1 555 0200', 'Shelbyville', %(xb)s, false)
"""
_PRODUCTS = """
INSERT INTO salesforce.product2 (sfid, name, productcode, family, isactive, isdeleted)
VALUES ('01t000000000001AAA', 'Widget', 'W-1', 'Hardware', true, false),
       ('01t000000000002AAA', 'Support plan', 'S-1', 'Services', true, false)
"""
# Account A: orders 1..30, every other day from January to early March 2026, statuses cycling; B: 3 orders.
_ORDERS = """
INSERT INTO salesforce."order" (sfid, accountid, ordernumber, status, statuscode, effectivedate, totalamount,
                                ponumber, type, isdeleted)
SELECT '801' || substr(acc, 4, 1) || lpad(n::text, 11, '0') || 'AAA', acc,
       lpad((CASE WHEN acc = %(a)s THEN 0 ELSE 1000 END + n)::text, 8, '0'),
       (ARRAY['Activated', 'Shipped', 'Delivered'])[1 + n %% 3], 'Activated',
       date '2026-01-01' + 2 * n, 100.0 * n, 'PO-' || n, 'New', false
FROM (VALUES (%(a)s, %(orders_a)s), (%(b)s, 3)) AS a(acc, cnt), generate_series(1, cnt) AS n
"""
_ITEMS = """
INSERT INTO salesforce.orderitem (sfid, orderid, product2id, orderitemnumber, quantity, unitprice, totalprice,
                                  isdeleted)
SELECT '802' || substr(o.sfid, 4, 12) || k || 'AA', o.sfid,
       CASE WHEN k = 1 THEN '01t000000000001AAA' ELSE '01t000000000002AAA' END,
       lpad(k::text, 10, '0'), k, o.totalamount / 3 / k, o.totalamount / 3 * (CASE WHEN k = 1 THEN 1 ELSE 2 END) / k,
       false
FROM salesforce."order" o, generate_series(1, 2) AS k
"""
_INVOICES = """
INSERT INTO salesforce.invoice__c (sfid, name, account__c, period__c, amount__c, tax__c, order_count__c, status__c,
                                   due_date__c, external_id__c, isdeleted)
VALUES ('a0IA00000000001AAA', 'INV-A-2026-01', %(a)s, '2026-01', 4650, 465, 30, 'Issued', '2026-02-28', 'inv-a-1',
        false),
       ('a0IB00000000001AAA', 'INV-B-2026-01', %(b)s, '2026-01', 600, 60, 3, 'Issued', '2026-02-28', 'inv-b-1', false)
"""
CASE_B = "500B00000000001AAA"
_CASES = """
INSERT INTO salesforce."case" (sfid, accountid, contactid, order__c, casenumber, subject, status, external_id__c,
                               isdeleted)
VALUES (%(case_b)s, %(b)s, %(cb)s, %(order_b)s, '00001001', 'Globex question', 'New', 'case-b-1', false)
"""


def load(conn) -> None:
    """The two accounts' rows, as Connect would have synced them."""
    params = {"a": ACCOUNT_A, "b": ACCOUNT_B, "ca": CONTACT_A, "cb": CONTACT_B, "ea": EMAIL_A, "eb": EMAIL_B,
              "xa": EXT_A, "xb": EXT_B, "orders_a": ORDERS_A, "case_b": CASE_B, "order_b": order_sfid(ACCOUNT_B, 1)}
    with as_connect(conn):
        for statement in (_ACCOUNTS, _CONTACTS, _PRODUCTS, _ORDERS, _ITEMS, _INVOICES, _CASES):
            conn.execute(statement, params)


def make_user(conn, email: str = EMAIL_A, password: str = PASSWORD) -> dict:
    """A portal login for the contact with `email`, invitation accepted."""
    user, token = logins.invite(conn, "salesforce", "app", email)
    logins.set_password_with_token(conn, "app", token, "invitation", password)
    return logins.user_by(conn, "salesforce", "app", email=email)


def session_for(client, user: dict) -> None:
    """Give the test client the session a login would give `user`."""
    with client.session_transaction() as session:
        session["customer"] = {"user_id": user["id"], "contact_sfid": user["contact_sfid"],
                               "account_sfid": user["account_sfid"],
                               "contact_external_id": user["contact_external_id"],
                               "session_version": user["session_version"]}


def csrf(client) -> str:
    """The client's CSRF token (set in its session)."""
    with client.session_transaction() as session:
        session.setdefault("csrf_token", "test-csrf-token-0123456789")
        return session["csrf_token"]


def trigger_log(conn, table: str) -> list[dict]:
    """Trigger-log rows for `table`, oldest first."""
    return conn.execute(
        "SELECT state, action, record_id, sfid, values FROM salesforce._trigger_log WHERE table_name = %s ORDER BY id",
        (table,),
    ).fetchall()


# Each `_hc_lastop` Connect leaves on a row (with `_hc_err` for a failure) and the badge a customer sees.
SYNC_BADGES = [
    ("PENDING", None, "Sending to Salesforce…"),
    ("INSERTED", None, "Saved"),
    ("UPDATED", None, "Saved"),
    ("SYNCED", None, "Saved"),
    ("FAILED", '{"message": "REQUIRED_FIELD_MISSING: Status"}', "Could not be saved: REQUIRED_FIELD_MISSING: Status"),
]
