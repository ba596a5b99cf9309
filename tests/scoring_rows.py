"""Accounts and orders as Connect synced them, with a churn signal a model can learn, for the run tests.

Half the accounts keep ordering every couple of weeks up to TODAY; the others stop on a seeded day
in the last year and a half. Orders are created on their effective date, so features computed as of
a past cut-off see exactly the orders that existed then.
"""

import json
import random
from datetime import date, datetime, timedelta

from core.scoring import training
from standins.connect.writes import as_connect
from standins.org.ids import salesforce_id

TODAY = date(2026, 11, 1)
ACCOUNT = ("INSERT INTO salesforce.account (sfid, name, accountnumber, industry, isdeleted, systemmodstamp, "
           "createddate) VALUES (%s, %s, %s, 'Retail', false, now(), %s)")
ORDER = ('INSERT INTO salesforce."order" (sfid, accountid, ordernumber, status, statuscode, effectivedate, '
         "totalamount, isdeleted, systemmodstamp, createddate) VALUES (%s, %s, %s, 'Delivered', 'Activated', %s, %s, "
         "false, now(), %s)")


def load(conn, accounts: int = 80, seed: int = 7) -> list[str]:
    """Insert `accounts` synced accounts with their orders; return the account sfids in id order."""
    rng = random.Random(seed)
    start = TODAY - timedelta(days=540)
    sfids, orders = [], []
    for i in range(accounts):
        sfid = salesforce_id("001", i + 1)
        sfids.append(sfid)
        stop = TODAY if i % 2 == 0 else TODAY - timedelta(days=rng.randint(20, 480))
        day = start + timedelta(days=rng.randint(0, 20))
        while day < stop:
            orders.append((salesforce_id("801", len(orders) + 1), sfid, f"O-{len(orders) + 1:08d}", day,
                           rng.randint(50, 500), datetime.combine(day, datetime.min.time())))
            day += timedelta(days=rng.randint(7, 21))
    with as_connect(conn), conn.cursor() as cur:
        cur.executemany(ACCOUNT, [(s, f"Account {n}", f"ACC-{n:06d}", datetime.combine(start, datetime.min.time()))
                                  for n, s in enumerate(sfids, 1)])
        cur.executemany(ORDER, orders)
    return sfids


def account_rows(conn) -> dict[int, dict]:
    """Every column of every account row, by id."""
    return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM salesforce.account ORDER BY id")}


_trained: list[dict] = []  # the registry row of the one training a test session needs


def current_model(conn, cfg) -> int:
    """A current model trained on load()'s data: trained on first use, then the same row inserted again."""
    if not _trained:
        version = training.train(conn, cfg, today=TODAY)["version"]
        _trained.append(conn.execute("SELECT * FROM app.scoring_models WHERE status = 'current'").fetchone())
        return version
    row = _trained[0]
    columns = [c for c in row if c != "version"]
    values = ", ".join(f"%({c})s" for c in columns)
    statement = f"INSERT INTO app.scoring_models ({', '.join(columns)}) VALUES ({values}) RETURNING version"  # noqa: S608
    params = {**row, "metrics": json.dumps(row["metrics"])}
    return conn.execute(statement, params).fetchone()["version"]
