"""Benchmark: nightly invoicing of 1,000,000 orders for 100,000 accounts (docs/batch-invoicing.md).

    .venv/bin/python -m bench.invoicing [--accounts 100000] [--orders 1000000] [--chunks 20] [--sample 20000]

Prints, from one run on one machine:
  (a) the practical limit: bare single statements, no chunking or bookkeeping — one INSERT ... SELECT of
      the per-account aggregation into the same triggered invoice__c table, plus one for the ledger;
  (b) the real run (planning, run and chunk rows, RQ jobs) with 1 worker process (`python -m worker`);
  (c) the same with 2 worker processes;
  (d) a naive row-by-row loop (one order per transaction) on a sample, extrapolated to the whole set;
and the ratios (b)/(a) (target ≤ 1.3), (d)/(b) (target ≥ 20), (b)/(c) (target ≥ 1.5). For context it
also measures (e): (a)'s bare statements split into the same number of account ranges, on one and
on two connections — how much faster two writers are on this machine at all, the ceiling for (b)/(c).

It uses a separate database (`connectapp_bench`) on the embedded server, loaded once with
standins.demo_data, then moves every order's EffectiveDate into the benchmark month with a
Connect-style write, so that one run bills the whole million. Between variants the invoice table,
trigger log, ledger and runs are emptied with TRUNCATE (which Connect's triggers do not capture:
fine here, never on real data). Every variant writes the same invoices through the same triggers.
"""

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

from rq import Worker

from core import config, db, invoicing, queue
from core.migrate import migrate
from core.paths import ROOT
from standins import demo_data, services
from standins.connect.writes import as_connect
from standins.provision import provision

DATABASE = "connectapp_bench"
PERIOD = "2026-10"
REDIS_DIR = Path("/tmp") / f"connectapp-bench-redis-{os.getpid()}"

MOVE_INTO_PERIOD = """
UPDATE salesforce."order"
   SET effectivedate = DATE '2026-10-01' + (hashtext(sfid) & 2147483647) % 31
 WHERE effectivedate < DATE '2026-10-01' OR effectivedate >= DATE '2026-11-01'
"""

RESET = ("TRUNCATE salesforce.invoice__c, salesforce._trigger_log, app.invoice_lines, app.invoice_runs "
         "RESTART IDENTITY CASCADE")

# (a) The same rows the real run writes, by two bare statements.
BARE_INVOICES = """
INSERT INTO salesforce.invoice__c
    (name, account__c, period__c, amount__c, tax__c, order_count__c, status__c, due_date__c, external_id__c)
SELECT 'INV-2026-10-' || coalesce(a.accountnumber, t.accountid), t.accountid, '2026-10', t.amount,
       round(t.amount * 0.20, 2), t.n, 'Issued', DATE '2026-11-30', 'inv-' || t.accountid || '-2026-10'
  FROM (SELECT accountid, sum(round(totalamount::numeric, 2)) AS amount, count(*) AS n
          FROM salesforce."order"
         WHERE statuscode = 'Activated' AND effectivedate >= '2026-10-01' AND effectivedate < '2026-11-01'
           AND NOT isdeleted
         GROUP BY accountid) t
  LEFT JOIN salesforce.account a ON a.sfid = t.accountid
"""
BARE_LEDGER = """
INSERT INTO app.invoice_lines (order_sfid, invoice_external_id, account_sfid, period, amount, run_id, chunk)
SELECT sfid, 'inv-' || accountid || '-2026-10', accountid, '2026-10', round(totalamount::numeric, 2), 0, 0
  FROM salesforce."order"
 WHERE statuscode = 'Activated' AND effectivedate >= '2026-10-01' AND effectivedate < '2026-11-01' AND NOT isdeleted
"""

# (d) What a first attempt often looks like: fetch the orders, then one small transaction per order.
NAIVE_SAMPLE = """
SELECT o.sfid, o.accountid, o.totalamount, a.accountnumber
  FROM salesforce."order" o LEFT JOIN salesforce.account a ON a.sfid = o.accountid
 WHERE o.statuscode = 'Activated' AND o.effectivedate >= '2026-10-01' AND o.effectivedate < '2026-11-01'
   AND NOT o.isdeleted
 ORDER BY o.accountid LIMIT %(sample)s
"""
NAIVE_BILLED = "SELECT 1 FROM app.invoice_lines WHERE order_sfid = %(sfid)s"
NAIVE_LINE = """
INSERT INTO app.invoice_lines (order_sfid, invoice_external_id, account_sfid, period, amount, run_id, chunk)
VALUES (%(sfid)s, %(ext)s, %(account)s, '2026-10', %(amount)s, 0, 0)
"""
NAIVE_INVOICE = """
INSERT INTO salesforce.invoice__c
    (name, account__c, period__c, amount__c, tax__c, order_count__c, status__c, due_date__c, external_id__c)
VALUES (%(name)s, %(account)s, '2026-10', %(amount)s, round(%(amount)s * 0.20, 2), 1, 'Issued', '2026-11-30', %(ext)s)
ON CONFLICT (external_id__c) DO UPDATE
   SET amount__c = round(invoice__c.amount__c::numeric + excluded.amount__c::numeric, 2),
       tax__c = round(round(invoice__c.amount__c::numeric + excluded.amount__c::numeric, 2) * 0.20, 2),
       order_count__c = invoice__c.order_count__c + 1
"""

RUN_STATE = "SELECT state FROM app.invoice_runs WHERE id = %(run_id)s"
TOTALS = "SELECT count(*) AS invoices, coalesce(sum(amount__c::numeric), 0) AS amount FROM salesforce.invoice__c"


def prepare(accounts: int, orders: int, log=print, server_url: str | None = None) -> str:
    """The bench database, loaded once at this scale with every order in the benchmark month; return its URL.

    On the shared embedded server unless `server_url` names another (bench/chaos.py restarts its own).
    """
    url = services.ensure_database(server_url or services.embedded_postgres().get_uri(), DATABASE)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
        loaded = conn.execute("SELECT accounts, orders FROM app.demo_data_loads ORDER BY id DESC LIMIT 1").fetchone()
        if loaded != {"accounts": accounts, "orders": orders}:
            log(f"loading {accounts:,} accounts and {orders:,} orders (once) ...")
            demo_data.load(conn, accounts=accounts, orders=orders, seed=42, replace=True, log=log)
        with as_connect(conn):  # Connect's write: no trigger-log rows
            moved = conn.execute(MOVE_INTO_PERIOD).rowcount
        if moved:
            log(f"moved {moved:,} orders into {PERIOD}")
            conn.execute('VACUUM ANALYZE salesforce."order"')
    return url


def reset(conn, redis_conn) -> None:
    """Empty what a run writes, and checkpoint so every variant starts from the same state."""
    conn.execute(RESET)
    # Run ids restart at 1, so the previous variant's finished jobs (same deterministic ids) must go too.
    redis_conn.flushdb()
    conn.execute("VACUUM ANALYZE salesforce.invoice__c, app.invoice_lines")
    conn.execute("CHECKPOINT")


def totals(conn) -> tuple[int, Decimal]:
    """Invoices written and their total amount (every variant must agree)."""
    row = conn.execute(TOTALS).fetchone()
    return row["invoices"], row["amount"]


def bare(conn) -> float:
    """(a) Two bare statements."""
    t0 = time.perf_counter()
    conn.execute(BARE_INVOICES)
    t1 = time.perf_counter()
    conn.execute(BARE_LEDGER)
    t2 = time.perf_counter()
    print(f"    invoices {t1 - t0:.2f} s + ledger {t2 - t1:.2f} s")
    return t2 - t0


def bare_chunks(url: str, chunks: int, connections: int) -> float:
    """The machine's own scaling: (a)'s two statements per account range, on 1 or more connections at once."""
    with db.connect(url) as conn:
        accounts = [r["sfid"] for r in conn.execute("SELECT sfid FROM salesforce.account ORDER BY sfid").fetchall()]
    edges = [accounts[i * len(accounts) // chunks] for i in range(chunks)] + [None]
    todo = list(range(chunks))
    lock = threading.Lock()

    def work(conn):
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            upper = f" AND accountid < '{edges[i + 1]}'" if edges[i + 1] else ""
            in_range = f" AND accountid >= '{edges[i]}'{upper}"
            with conn.transaction():
                conn.execute(BARE_INVOICES.replace("AND NOT isdeleted\n", f"AND NOT isdeleted{in_range}\n", 1))
                conn.execute(BARE_LEDGER + in_range)

    conns = [db.connect(url) for _ in range(connections)]
    try:
        threads = [threading.Thread(target=work, args=(c,)) for c in conns]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0
    finally:
        for c in conns:
            c.close()


def start_workers(n: int, env: dict, redis_conn) -> list[subprocess.Popen]:
    """Start n real worker processes and wait until each has registered with Redis."""
    before = len(Worker.all(connection=redis_conn))
    procs = [
        subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(n)
    ]
    deadline = time.monotonic() + 30
    while len(Worker.all(connection=redis_conn)) < before + n:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.05)
    return procs


def stop_workers(procs) -> None:
    """SIGTERM the workers (what a dyno restart sends) and wait for them."""
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(30)


def real_run(conn, cfg, redis_conn, env: dict, workers: int, chunks: int) -> tuple[float, dict]:
    """(b)/(c) A real run, started as the CLI starts it, served by `workers` worker processes."""
    procs = start_workers(workers, env, redis_conn)
    try:
        t0 = time.perf_counter()
        run_cfg = dataclasses.replace(cfg, invoicing=config.Invoicing(chunks=chunks))
        run_id, _ = invoicing.start_run(conn, redis_conn, PERIOD, run_cfg)
        planned = time.perf_counter() - t0
        # Wait with the lightest query there is, so the waiting takes no CPU from the run itself.
        while conn.execute(RUN_STATE, {"run_id": run_id}).fetchone()["state"] not in ("finished", "failed"):
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        p = invoicing.progress(conn, run_id, cfg)
    finally:
        stop_workers(procs)
    if p["state"] != "finished":
        raise RuntimeError(f"run {run_id} {p['state']}: {p['error']}")
    print(f"    estimate + planning + enqueue {planned:.2f} s, chunks {elapsed - planned:.2f} s")
    return elapsed, p


def naive(conn, sample: int) -> tuple[float, int]:
    """(d) Row by row, one transaction per order, on a sample; return (seconds, orders done)."""
    rows = conn.execute(NAIVE_SAMPLE, {"sample": sample}).fetchall()
    t0 = time.perf_counter()
    for r in rows:
        with conn.transaction():
            if conn.execute(NAIVE_BILLED, {"sfid": r["sfid"]}).fetchone():
                continue
            ext = f"inv-{r['accountid']}-{PERIOD}"
            amount = round(Decimal(str(r["totalamount"])), 2)
            conn.execute(NAIVE_LINE, {"sfid": r["sfid"], "ext": ext, "account": r["accountid"], "amount": amount})
            conn.execute(NAIVE_INVOICE, {"name": f"INV-{PERIOD}-{r['accountnumber'] or r['accountid']}",
                                         "account": r["accountid"], "amount": amount, "ext": ext})
    return time.perf_counter() - t0, len(rows)


def main(argv=None) -> int:
    """Run the four variants and print the figures and ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.invoicing", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, default=config.Invoicing.chunks)
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args(argv)

    url = prepare(args.accounts, args.orders)
    redis_server = services.EmbeddedRedis(REDIS_DIR).start()
    # A million orders is far past the demo plan's 10,000 synced rows: the benchmark bills on an enterprise plan.
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_server.url, "APP_ENV": "development",
           "CONNECT_PLAN": "enterprise"}
    cfg = config.load(env)
    redis_conn = queue.connect(redis_server.url)
    results = {}
    try:
        with db.connect(url) as conn:
            eligible = conn.execute(
                'SELECT count(*) AS n FROM salesforce."order" WHERE statuscode = \'Activated\' '
                "AND effectivedate >= '2026-10-01' AND effectivedate < '2026-11-01' AND NOT isdeleted"
            ).fetchone()["n"]
            server = conn.execute("SELECT current_setting('shared_buffers') AS sb, current_setting('wal_buffers') AS wb"
                                  ).fetchone()
            print(f"{eligible:,} billable orders in {PERIOD} ({args.orders:,} orders, {args.accounts:,} accounts), "
                  f"{args.chunks} chunks, {os.cpu_count()} CPUs; Postgres shared_buffers {server['sb']}, "
                  f"wal_buffers {server['wb']}")

            reset(conn, redis_conn)
            print("(a) bare single statements ...")
            results["a"] = bare(conn)
            expected = totals(conn)
            print(f"    {results['a']:.2f} s — {expected[0]:,} invoices, {expected[1]:,.2f}")

            for key, workers in (("b", 1), ("c", 2)):
                reset(conn, redis_conn)
                print(f"({key}) real run, {workers} worker(s) ...")
                results[key], p = real_run(conn, cfg, redis_conn, env, workers, args.chunks)
                got = totals(conn)
                print(f"    {results[key]:.2f} s — {got[0]:,} invoices, {got[1]:,.2f}, "
                      f"{p['orders_invoiced']:,} orders, {p['chunks_done']} chunks")
                if got != expected or p["orders_invoiced"] != eligible:
                    raise SystemExit(f"({key}) wrote different totals than (a): {got} vs {expected}")

            for key, connections in (("e1", 1), ("e2", 2)):
                reset(conn, redis_conn)
                results[key] = bare_chunks(url, args.chunks, connections)
                if totals(conn) != expected:
                    raise SystemExit(f"({key}) wrote different totals than (a)")
            print(f"(e) the machine's ceiling for (b)/(c): (a)'s statements in {args.chunks} account ranges, "
                  f"1 connection {results['e1']:.2f} s, 2 connections {results['e2']:.2f} s")

            reset(conn, redis_conn)
            print(f"(d) naive row-by-row loop on {args.sample:,} orders ...")
            seconds, done = naive(conn, args.sample)
            results["d"] = seconds * eligible / done
            print(f"    {seconds:.2f} s for {done:,} orders ({done / seconds:,.0f}/s) → "
                  f"{results['d']:.1f} s extrapolated to {eligible:,}")
            reset(conn, redis_conn)
    finally:
        redis_server.stop()

    a, b, c, d = results["a"], results["b"], results["c"], results["d"]
    print()
    print(f"(a) bare statements          {a:8.2f} s")
    print(f"(b) real run, 1 worker       {b:8.2f} s   (b)/(a) = {b / a:.2f}   target ≤ 1.3")
    print(f"(c) real run, 2 workers      {c:8.2f} s   (b)/(c) = {b / c:.2f}   target ≥ 1.5")
    print(f"(d) naive loop, extrapolated {d:8.2f} s   (d)/(b) = {d / b:.1f}   target ≥ 20")
    print(f"(e) bare SQL in {args.chunks} ranges, 1 → 2 connections: {results['e1'] / results['e2']:.2f}× "
          "(how far two writers scale on this machine at all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
