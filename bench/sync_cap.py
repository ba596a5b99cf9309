"""Benchmark: a 10,000-row change under the demo plan's row cap, then the cap raised.

    .venv/bin/python -m bench.sync_cap [--rows 10000] [--existing 100]

In a fresh database (`connectapp_bench_cap`) on the embedded server, with the local org served by a
separate process (`python -m standins.org`, as `make run` runs it), `cap_scenario`:

1. creates `existing` Accounts in the org and lets the local Connect read them (demo plan);
2. creates `rows` Contacts in the org (sObject Collections calls of 200: a data load) — together
   more than the demo plan's 10,000 synced rows;
3. reads under the demo plan: the connection must end TOO_MANY_ROWS with no row over the cap;
4. raises the cap (the enterprise plan) and reads again: every record the org holds must be in
   Postgres — 0 rows lost.
"""

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from bench import local_org
from core import config, connect
from core import salesforce as org_client
from standins.connect import pull
from standins.connect.engine import Engine

SYNCED = "SELECT (SELECT count(*) FROM salesforce.account) + (SELECT count(*) FROM salesforce.contact) AS n"
FRESH_STATE = "TRUNCATE local_connect.mapping_state, local_connect.connection_state"


def _create(sf, object_name: str, records: list[dict]) -> None:
    for start in range(0, len(records), 200):
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
            {"attributes": {"type": object_name}, **r} for r in records[start:start + 200]]})


def _org_total(sf) -> int:
    return sum(sf.query(f"SELECT COUNT() FROM {name}")["totalSize"] for name in ("Account", "Contact"))  # noqa: S608


def cap_scenario(database_url: str, org_url: str, *, rows: int = 10_000, existing: int = 100,
                 plan: connect.Plan | None = None) -> dict:
    """Run the scenario against an empty Connect schema and an empty org; return what was observed."""
    plan = plan or connect.plan("demo")
    factory = lambda: org_client.connect(config.Salesforce(local_url=org_url))  # noqa: E731
    sf = factory()
    engine = Engine(database_url, "salesforce", salesforce_factory=factory)
    try:
        engine.conn.execute(FRESH_STATE)
        pull.configure(engine, plan=plan)
        clock = datetime.now(UTC)
        _create(sf, "Account", [{"Name": f"Existing {n}"} for n in range(existing)])
        pull.poll_due(engine, clock)
        _create(sf, "Contact", [{"LastName": f"Loaded {n}"} for n in range(rows)])
        started = time.perf_counter()
        clock += timedelta(seconds=plan.min_polling_seconds)  # every mapping due again: one read of each
        capped_state = pull.poll_due(engine, clock).state
        at_stop = engine.conn.execute(SYNCED).fetchone()["n"]
        pull.configure(engine, plan=connect.plan("enterprise"))
        clock += timedelta(seconds=plan.min_polling_seconds)
        after = pull.poll_due(engine, clock)
        seconds = time.perf_counter() - started
        synced = engine.conn.execute(SYNCED).fetchone()["n"]
        in_org = _org_total(sf)
    finally:
        engine.conn.close()
    return {"rows_changed": rows, "existing": existing, "cap": plan.row_cap, "state_under_cap": capped_state,
            "rows_at_stop": at_stop, "state_after_raise": after.state, "rows_synced": synced,
            "org_records": in_org, "lost": in_org - synced, "seconds": round(seconds, 1)}


def main(argv=None) -> int:
    """Run the scenario on a fresh database and a local org process; print the result."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rows", type=int, default=10_000)
    args.add_argument("--existing", type=int, default=100)
    options = args.parse_args(argv)
    with local_org.fresh_org("connectapp_bench_cap") as (url, org_url):
        result = cap_scenario(url, org_url, rows=options.rows, existing=options.existing)
    print(f"a {result['rows_changed']:,}-row change over {result['existing']:,} synced rows, demo plan "
          f"(cap {result['cap']:,} rows across all mappings)")
    print(f"  under the cap: {result['state_under_cap']} with {result['rows_at_stop']:,} rows synced "
          f"(none over the cap)")
    print(f"  cap raised (enterprise): {result['state_after_raise']}, {result['rows_synced']:,} rows synced of "
          f"{result['org_records']:,} in the org: {result['lost']} lost ({result['seconds']} s of reading)")
    ok = (result["state_under_cap"] == "TOO_MANY_ROWS" and result["rows_at_stop"] <= result["cap"]
          and result["state_after_raise"] == "IDLE" and result["lost"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
