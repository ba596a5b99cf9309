"""Rows as Heroku Connect writes them from Salesforce (xmlbinary = 'hex': no trigger log, SYNCED)."""

import itertools
from datetime import date

from standins.connect.writes import as_connect

_ids = itertools.count(1)
ACCOUNTS = (
    "INSERT INTO salesforce.account (sfid, name, accountnumber, isdeleted, systemmodstamp, createddate) "
    "VALUES (%s, %s, %s, false, now(), now())"
)
ORDERS = (
    'INSERT INTO salesforce."order" (sfid, accountid, ordernumber, status, statuscode, effectivedate, '
    "totalamount, isdeleted, systemmodstamp, createddate) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, false, now(), now())"
)
STATUS_CODES = {"Draft": "Draft", "Activated": "Activated", "Shipped": "Activated", "Delivered": "Activated",
                "Cancelled": "Cancelled"}


def sfid(prefix: str) -> str:
    """A fresh 18-character Salesforce-looking id with the object's key prefix."""
    return f"{prefix}{next(_ids):015d}"


def add_accounts(conn, n: int, start: int = 1) -> list[str]:
    """Insert n synced accounts with AccountNumbers ACC-000001…; return their sfids in order."""
    ids = [sfid("001") for _ in range(n)]
    with as_connect(conn), conn.cursor() as cur:
        cur.executemany(ACCOUNTS, [(s, f"Account {i}", f"ACC-{i:06d}") for i, s in enumerate(ids, start)])
    return ids


def add_orders(conn, rows) -> list[str]:
    """Insert synced orders from (account_sfid, effective_date, amount, status) tuples; return their sfids."""
    params = []
    for account, effective, amount, status in rows:
        order_id = sfid("801")
        params.append((order_id, account, f"O-{order_id[-8:]}", status, STATUS_CODES[status],
                       effective if isinstance(effective, date) else date.fromisoformat(effective), amount))
    with as_connect(conn), conn.cursor() as cur:
        cur.executemany(ORDERS, params)
    return [p[0] for p in params]


PRODUCTS = """
INSERT INTO salesforce.product2 (sfid, name, isactive, isdeleted, systemmodstamp, createddate)
SELECT '01t' || lpad(n::text, 15, '0'), 'Product ' || n, true, false, now(), now() FROM generate_series(1, %s) n
"""


def synced_products(conn, n: int) -> None:
    """n synced Product2 rows: with the demo plan's 10,000-row cap, enough to fill it."""
    with as_connect(conn):
        conn.execute(PRODUCTS, (n,))
