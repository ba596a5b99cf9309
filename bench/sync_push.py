"""Benchmark: the local Connect pushing 10,000 changed rows to the local org.

    .venv/bin/python -m bench.sync_push [--rows 10000]

In a fresh database (`connectapp_bench_sync`) on the embedded server, with the local org served
by a separate process (`python -m standins.org`, as `make run` runs it), it:

1. baseline: creates the same number of records straight through sObject Collections calls of
   200 (what a hand-written bulk loader would do), timing it;
2. inserts that many Contact rows in Postgres as the app would (one statement: triggers log them),
   then lets the engine push them, counting the API calls the org saw and timing it;
3. updates every row in Postgres (one statement) and pushes again: updates by Id.

It prints the API calls (target for 10,000 rows: ≤ 55, i.e. ⌈10,000 / 200⌉ = 50 plus a few
describes) and rows per second, and the engine's throughput as a ratio of the baseline's.
"""

import argparse
import os
import socket
import subprocess
import sys
import time

from core import config, db
from core import salesforce as org_client
from core.migrate import migrate
from core.paths import ROOT
from standins import services
from standins.connect.engine import Engine
from standins.org import limits
from standins.provision import provision


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_used(conn) -> int:
    """API requests the org counted today."""
    return limits.used(conn, "local_org", "DailyApiRequests")


def main(argv=None) -> int:
    """Run the benchmark and print its figures."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rows", type=int, default=10_000)
    rows = args.parse_args(argv).rows
    server = services.embedded_postgres()
    url = services.ensure_database(server.get_uri(), "connectapp_bench_sync", fresh=True)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "redis://unused", "LOCAL_ORG_PORT": str(port),
           "LOCAL_ORG_DAILY_API_LIMIT": "1000000"}
    org = subprocess.Popen([sys.executable, "-m", "standins.org"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    org_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sf = org_client.connect(config.Salesforce(local_url=org_url))
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with db.connect(url) as conn:
            # 1. baseline: the org's own speed for the same records, through the same collections calls
            started = time.perf_counter()
            for start in range(0, rows, 200):
                sf.restful("composite/sobjects/Contact/External_ID__c", method="PATCH", json={
                    "allOrNone": False, "records": [
                        {"attributes": {"type": "Contact"}, "LastName": f"Baseline {n}", "External_ID__c": f"base-{n}"}
                        for n in range(start, min(rows, start + 200))]})
            baseline = time.perf_counter() - started
            # The org slows as its records table grows: the engine starts from an empty org too, so the
            # ratio compares like with like (measured: inserts into an org already holding 10,000 records
            # run at about half the speed).
            conn.execute("TRUNCATE local_org.records")

            engine = Engine(url, "salesforce",
                            salesforce_factory=lambda: org_client.connect(config.Salesforce(local_url=org_url)))
            engine.describe("Contact")
            # 2. inserts
            conn.execute("INSERT INTO salesforce.contact (lastname, email, external_id__c) "
                         "SELECT 'Bench ' || n, 'bench' || n || '@example.com', 'bench-' || n "
                         "FROM generate_series(1, %s) AS n", (rows,))
            before = api_used(conn)
            started = time.perf_counter()
            while engine.push_once():
                pass
            inserts, insert_calls = time.perf_counter() - started, api_used(conn) - before
            # 3. updates
            conn.execute("UPDATE salesforce.contact SET phone = '+1 555 ' || id")
            before = api_used(conn)
            started = time.perf_counter()
            while engine.push_once():
                pass
            updates, update_calls = time.perf_counter() - started, api_used(conn) - before
            synced = conn.execute("SELECT count(*) AS n FROM salesforce.contact WHERE sfid IS NOT NULL AND "
                                  "_hc_lastop IN ('INSERTED', 'UPDATED', 'SYNCED')").fetchone()["n"]
            failed = conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log_archive "
                                  "WHERE state = 'FAILED'").fetchone()["n"]
    finally:
        org.terminate()
        org.wait(10)
    print(f"push of {rows:,} changed rows to the local org (one run, same machine)")
    print(f"  baseline: collections calls straight to the org   {rows / baseline:8,.0f} rows/s  "
          f"({baseline:.1f} s, {-(-rows // 200)} calls)")
    print(f"  engine, inserts (upserts by external id)         {rows / inserts:8,.0f} rows/s  ({inserts:.1f} s, "
          f"{insert_calls} API calls; target <= 55)   ratio to baseline {baseline / inserts:.2f}x")
    print(f"  engine, updates (by Id, changed fields only)     {rows / updates:8,.0f} rows/s  ({updates:.1f} s, "
          f"{update_calls} API calls; target <= 55)   ratio to baseline {baseline / updates:.2f}x")
    print(f"  rows synced: {synced:,} of {rows:,}; failed: {failed}")
    return 0 if synced == rows and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
