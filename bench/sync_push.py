"""Benchmark: push 10,000 changed rows through the local Connect to the local org.

    .venv/bin/python -m bench.sync_push             # 10,000 case inserts
    .venv/bin/python -m bench.sync_push --rows 2000

Uses its own database (`connectapp_bench_sync`, emptied each run) on the embedded Postgres and a
real `python -m standins.org` process on a free loopback port. It prints:

- API calls the push used (target ≤ 55: ⌈10,000 / 200⌉ = 50 collection calls, as Connect's SOAP writes);
- rows per second through the engine (claim, send, write back, archive);
- the baseline, run first on an empty org (emptied again before the engine runs): as many records
  sent straight to the org in 200-record collection calls with no database work, and the engine's
  rate as a ratio of it.
"""

import argparse
import socket
import subprocess
import sys
import time

from core import connect, db
from core.connect import ROOT
from standins import services
from standins.connect.engine import Engine, Settings
from standins.org.client import salesforce
from standins.provision import provision

CASES = """
INSERT INTO salesforce.case (subject, status, origin, priority, external_id__c)
SELECT 'Bench case ' || n, 'New', 'Web', 'Medium', %(prefix)s || n FROM generate_series(1, %(rows)s) AS n
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_org(url: str):
    deadline = time.monotonic() + 30
    while True:
        try:
            return salesforce(url)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _usage(sf) -> int:
    """The org's API count after a limits call (which counts itself)."""
    sf.limits()
    return sf.api_usage["api-usage"].used


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    rows = parser.parse_args().rows
    url = services.ensure_database(services.embedded_postgres().get_uri(), "connectapp_bench_sync", fresh=True)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
    port = _free_port()
    env = {"DATABASE_URL": url, "REDIS_URL": "redis://unused", "LOCAL_ORG_PORT": str(port),
           "LOCAL_ORG_DAILY_API_LIMIT": "1000000", "PATH": "/usr/bin:/bin"}
    org = subprocess.Popen([sys.executable, "-m", "standins.org"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        org_url = f"http://127.0.0.1:{port}"
        sf = _wait_for_org(org_url)
        # Baseline: the org alone, same records, same call size, nothing read or written in Postgres.
        records = [{"attributes": {"type": "Case"}, "Subject": f"Baseline {n}", "Status": "New", "Origin": "Web",
                    "Priority": "Medium", "External_ID__c": f"base-{n}"} for n in range(rows)]
        started = time.perf_counter()
        for i in range(0, rows, connect.WRITE_BATCH_SIZE):
            sf.restful("composite/sobjects/Case/External_ID__c", method="PATCH",
                       json={"allOrNone": False, "records": records[i:i + connect.WRITE_BATCH_SIZE]})
        baseline = time.perf_counter() - started
        with db.connect(url) as conn:  # the engine starts from an empty org too
            conn.execute("TRUNCATE local_org.records")
        with db.connect(url) as conn:
            engine = Engine(url, "salesforce", lambda: salesforce(org_url), Settings(),
                            mappings=connect.mappings(), log=lambda *_: None)
            engine.start(conn)
            conn.execute(CASES, {"rows": rows, "prefix": "bench-"})
            before = _usage(sf)
            started = time.perf_counter()
            engine.push_all(conn)
            seconds = time.perf_counter() - started
            calls = _usage(sf) - before - 1  # minus the second limits call
            sent = conn.execute("SELECT count(*) AS n FROM salesforce.case WHERE _hc_lastop = 'INSERTED'"
                                ).fetchone()["n"]
            per_mapping = conn.execute("SELECT api_calls_today FROM local_connect.mapping_state "
                                       "WHERE object_name = 'Case'").fetchone()["api_calls_today"]
    finally:
        org.terminate()
        org.wait(10)
    print(f"rows pushed:           {sent:,} of {rows:,} case inserts")
    print(f"API calls (org count): {calls}   (engine's count for Case: {per_mapping - 1} + 1 describe; "
          f"target ≤ 55)")
    print(f"engine:                {seconds:.2f} s, {rows / seconds:,.0f} rows/s")
    print(f"baseline (org only):   {baseline:.2f} s, {rows / baseline:,.0f} rows/s")
    print(f"engine / baseline:     {(rows / seconds) / (rows / baseline):.2f}x")
    return 0 if sent == rows and calls <= 55 else 1


if __name__ == "__main__":
    sys.exit(main())
