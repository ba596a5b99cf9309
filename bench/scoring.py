"""Benchmark: churn scoring of 100,000 accounts with 1,000,000 orders, and its write-back (docs/scoring.md).

    .venv/bin/python -m bench.scoring [--accounts 100000] [--orders 1000000] [--workers 2] [--reload]

Prints, from one run on one machine:
  (a) feature extraction (core/scoring/features.py) against a bare SQL aggregate of the same windows;
  (b) the training time (model, two baselines, metrics, permutation importance, registry);
  (c) a scoring run of every account — planning, features, prediction, write-back through Connect's
      triggers, chunk bookkeeping, the chunks run one after another as one worker would — against a
      bare UPDATE of the same values through the same triggers (target ≤ 1.3);
  (d) a rerun with the same model: rows written on the rerun against the first run (target: none);
  (e) with --workers N > 1, the run of (c) again from the same start, its chunks spread over N worker
      processes (as N worker dynos would run them), against the same bare UPDATE.
Its last line, machine-readable:
  scoring: auc=<model ROC AUC> baseline_auc=<best baseline ROC AUC> writeback_ratio=<(e), or (c) with one worker>
  changed_only_saving=<(d)>
and the line before it says which run the ratio is from (how many workers, how many CPUs).

It uses a separate database (`connectapp_bench_scoring`) on the embedded server, loaded once with
standins.demo_data as of a fixed day. Between variants the three churn columns are cleared with a
Connect-style write (not logged) and the trigger log is emptied with TRUNCATE (which Connect's triggers
do not capture: fine here, never on real data).
"""

import argparse
import multiprocessing
import os
import sys
import time
from datetime import UTC, date
from pathlib import Path

from psycopg import sql

from core import config, db, queue
from core.migrate import migrate
from core.scoring import features, runs, training, writeback
from standins import demo_data, services
from standins.connect.writes import as_connect
from standins.provision import provision
from worker import scoring as chunk_jobs

DATABASE = "connectapp_bench_scoring"
TODAY = date(2026, 11, 1)
REDIS_DIR = Path("/tmp") / f"connectapp-bench-scoring-redis-{os.getpid()}"

CLEAR = ("UPDATE salesforce.account SET churn_risk__c = NULL, churn_risk_band__c = NULL, "
         "churn_risk_scored_at__c = NULL WHERE churn_risk__c IS NOT NULL")
RESET = "TRUNCATE salesforce._trigger_log, app.scoring_runs RESTART IDENTITY CASCADE"
WRITTEN = ("SELECT id, churn_risk__c AS score, churn_risk_band__c AS band FROM salesforce.account "
           "WHERE churn_risk__c IS NOT NULL")
SCORED_AT = "SELECT scored_at FROM app.scoring_runs WHERE id = %(run_id)s"

# (a) The windows the features read, as one plain aggregate over the same rows: the floor for any extraction.
BARE_AGGREGATE = """
SELECT a.id,
       %(cutoff)s::date - max(o.effectivedate) AS recency,
       count(*) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 30) AS n30,
       count(*) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 90) AS n90,
       count(*) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 180) AS n180,
       count(*) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 365) AS n365,
       sum(o.totalamount) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 30) AS m30,
       sum(o.totalamount) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 90) AS m90,
       sum(o.totalamount) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 180) AS m180,
       sum(o.totalamount) FILTER (WHERE o.effectivedate >= %(cutoff)s::date - 365) AS m365
  FROM salesforce.account a JOIN salesforce."order" o ON o.accountid = a.sfid
 WHERE o.effectivedate < %(cutoff)s AND o.createddate < %(cutoff)s::timestamp
 GROUP BY a.id
"""
# (c) The same values the run wrote, by one bare statement through the same triggers.
BARE_UPDATE = """
UPDATE salesforce.account a
   SET churn_risk__c = s.score, churn_risk_band__c = s.band, churn_risk_scored_at__c = %(scored_at)s
  FROM unnest(%(ids)s::integer[], %(scores)s::double precision[], %(bands)s::text[]) AS s(id, score, band)
 WHERE a.id = s.id
"""


def prepare(accounts: int, orders: int, *, reload: bool = False) -> str:
    """The bench database, loaded once at this scale as of TODAY; return its URL."""
    url = services.ensure_database(services.embedded_postgres().get_uri(), DATABASE)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
        loaded = conn.execute("SELECT accounts, orders FROM app.demo_data_loads ORDER BY id DESC LIMIT 1").fetchone()
        if reload or loaded != {"accounts": accounts, "orders": orders}:
            print(f"loading {accounts:,} accounts and {orders:,} orders (once) ...", flush=True)
            demo_data.load(conn, accounts=accounts, orders=orders, seed=42, today=TODAY, replace=True,
                           log=lambda *_: None)
            migrate(conn, "app", "salesforce", log=lambda *_: None)
        # As autovacuum leaves a table Connect has synced for a while: statistics, and a visibility map that
        # lets the feature statement read its covering indexes without visiting the table.
        conn.execute("VACUUM ANALYZE")
    return url


def reset(conn) -> None:
    """Clear the churn columns as Connect would (not logged), empty the trigger log and the runs."""
    with as_connect(conn):
        conn.execute(CLEAR)
    conn.execute(RESET)
    conn.execute("VACUUM ANALYZE salesforce.account")
    conn.execute("CHECKPOINT")


def timed(fn):
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def extraction(conn, cfg) -> tuple[float, float, int]:
    """(features seconds, bare aggregate seconds, accounts) as of TODAY."""
    conn.execute(BARE_AGGREGATE, {"cutoff": TODAY}).fetchall()  # warm the cache for both
    bare, rows = timed(lambda: conn.execute(BARE_AGGREGATE, {"cutoff": TODAY}).fetchall())
    full, (ids, _) = timed(lambda: features.extract(conn, cfg, TODAY))
    if len(ids) != len(rows):
        raise SystemExit(f"features cover {len(ids):,} accounts, the bare aggregate {len(rows):,}")
    return full, bare, len(ids)


def scoring_run(conn, cfg, redis_conn) -> tuple[float, dict]:
    """A whole run — plan, every chunk as a worker runs it, in turn — timed; return (seconds, progress)."""
    t0 = time.perf_counter()
    run_id, _ = runs.start_run(conn, redis_conn, cfg, today=TODAY)
    for chunk in range(runs.progress(conn, run_id, cfg)["chunks_total"]):
        chunk_jobs.score_chunk(conn, cfg, run_id, chunk)
    seconds = time.perf_counter() - t0
    redis_conn.flushdb()  # the queued copies of the chunks would only find them done
    return seconds, runs.progress(conn, run_id, cfg)


def chunk_worker(env: dict, tasks, done) -> None:
    """One worker process of (e): score the chunks it is given, each as worker.scoring does, until None."""
    cfg = config.load(env)
    with db.connect(cfg.database_url) as conn:
        done.put("ready")
        for run_id, chunk in iter(tasks.get, None):
            chunk_jobs.score_chunk(conn, cfg, run_id, chunk)
            done.put(chunk)


def parallel_run(conn, cfg, redis_conn, env: dict, workers: int) -> tuple[float, dict]:
    """(c) on `workers` processes, started (and their imports done) before the clock starts."""
    spawn = multiprocessing.get_context("spawn")  # no forked copy of this process's connections
    tasks, done = spawn.Queue(), spawn.Queue()
    processes = [spawn.Process(target=chunk_worker, args=(env, tasks, done)) for _ in range(workers)]
    for p in processes:
        p.start()
    for _ in processes:
        done.get(timeout=120)
    try:
        t0 = time.perf_counter()
        run_id, _ = runs.start_run(conn, redis_conn, cfg, today=TODAY)
        total = runs.progress(conn, run_id, cfg)["chunks_total"]
        for chunk in range(total):
            tasks.put((run_id, chunk))
        for _ in range(total):
            done.get(timeout=600)
        seconds = time.perf_counter() - t0
    finally:
        for _ in processes:
            tasks.put(None)
        for p in processes:
            p.join(60)
    redis_conn.flushdb()
    return seconds, runs.progress(conn, run_id, cfg)


def bare_update(conn, cfg, rows: list[dict], scored_at) -> float:
    """The same values in one UPDATE through the same triggers, timed."""
    params = {"ids": [r["id"] for r in rows], "scores": [r["score"] for r in rows],
              "bands": [r["band"] for r in rows], "scored_at": scored_at}
    seconds, _ = timed(lambda: conn.execute(sql.SQL(BARE_UPDATE), params))
    return seconds


def chunked_write_back(conn, cfg, rows: list[dict], scored_at, size: int = runs.CHUNK_ACCOUNTS) -> float:
    """The run's write-back path alone — writeback.write, one transaction per chunk of accounts — timed."""
    t0 = time.perf_counter()
    for start in range(0, len(rows), size):
        with conn.transaction():
            writeback.write(conn, cfg, {r["id"]: r["score"] for r in rows[start:start + size]}, scored_at)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    """Run the variants and print the figures, the ratios and the machine-readable line."""
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes for (e), the run spread over several workers (1: no (e))")
    parser.add_argument("--reload", action="store_true", help="load the demo data again (after a generator change)")
    args = parser.parse_args(argv)

    url = prepare(args.accounts, args.orders, reload=args.reload)
    redis_server = services.EmbeddedRedis(REDIS_DIR).start()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_server.url, "APP_ENV": "development"}
    cfg = config.load(env)
    redis_conn = queue.connect(redis_server.url)
    try:
        with db.connect(url) as conn:
            conn.execute("TRUNCATE app.scoring_models RESTART IDENTITY CASCADE")
            reset(conn)
            print(f"{args.accounts:,} accounts, {args.orders:,} orders, as of {TODAY}; {os.cpu_count()} CPUs",
                  flush=True)

            full, bare, accounts = extraction(conn, cfg)
            print(f"(a) features of {accounts:,} accounts {full:.2f} s; bare aggregate of the same windows "
                  f"{bare:.2f} s; ratio {full / bare:.2f}", flush=True)

            train_seconds, model = timed(lambda: training.train(conn, cfg, today=TODAY))
            metrics = model["metrics"]
            auc = metrics["model"]["roc_auc"]
            baseline = max(b["roc_auc"] for b in metrics["baselines"].values())
            print(f"(b) training {train_seconds:.1f} s ({metrics['train_rows']:,} train rows, "
                  f"{metrics['validate_rows']:,} holdout rows): ROC AUC {auc:.4f}, best baseline {baseline:.4f}",
                  flush=True)

            run_seconds, first = scoring_run(conn, cfg, redis_conn)
            rows = conn.execute(WRITTEN).fetchall()
            scored_at = conn.execute(SCORED_AT, {"run_id": first["id"]}).fetchone()["scored_at"]
            print(f"(c) scoring run {run_seconds:.2f} s: {first['accounts_scored']:,} scored, "
                  f"{first['rows_written']:,} written in {first['chunks_total']} chunks", flush=True)

            rerun_seconds, second = scoring_run(conn, cfg, redis_conn)
            print(f"(d) rerun, same model {rerun_seconds:.2f} s: {second['rows_written']:,} written", flush=True)

            reset(conn)
            scored_at = scored_at.astimezone(UTC).replace(tzinfo=None)
            update_seconds = bare_update(conn, cfg, rows, scored_at)
            logged = conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"]
            print(f"    bare UPDATE of the same {len(rows):,} values {update_seconds:.2f} s "
                  f"({logged:,} trigger-log rows)", flush=True)
            reset(conn)
            write_seconds = chunked_write_back(conn, cfg, rows, scored_at)
            print(f"    the run's write-back path alone (writeback.write per chunk) {write_seconds:.2f} s", flush=True)
            reset(conn)
            if args.workers > 1:
                spread_seconds, spread = parallel_run(conn, cfg, redis_conn, env, args.workers)
                print(f"(e) scoring run on {args.workers} workers {spread_seconds:.2f} s: "
                      f"{spread['accounts_scored']:,} scored, {spread['rows_written']:,} written", flush=True)
                if spread["rows_written"] != first["rows_written"]:
                    raise SystemExit("(e) did not write what (c) wrote")
                reset(conn)
    finally:
        redis_server.stop()

    ratio = run_seconds / update_seconds
    saving = 1 - second["rows_written"] / first["rows_written"] if first["rows_written"] else 0.0
    print()
    print(f"(a) features / bare aggregate      {full / bare:6.2f}")
    print(f"(b) training                       {train_seconds:6.1f} s")
    print(f"(c) scoring run / bare UPDATE      {ratio:6.2f}   target ≤ 1.3 (features and prediction included)")
    print(f"    write-back path / bare UPDATE  {write_seconds / update_seconds:6.2f}")
    print(f"(d) rows written on rerun          {second['rows_written']:,} of {first['rows_written']:,}   "
          f"saving {saving:.2f}, target ≥ 0.8 (band edges {', '.join(f'{n} ≥ {v:g}' for n, v in writeback.BANDS)})")
    if args.workers > 1:
        ratio = spread_seconds / update_seconds
        print(f"(e) scoring run on {args.workers} workers / bare UPDATE {ratio:6.2f}   target ≤ 1.3")
        print(f"writeback_ratio below: the run on {args.workers} worker processes on {os.cpu_count()} CPUs "
              f"(one worker: {run_seconds / update_seconds:.2f}); the bare UPDATE is one statement on one CPU")
    else:
        print(f"writeback_ratio below: the run on one worker process ({os.cpu_count()} CPUs)")
    print(f"scoring: auc={auc:.4f} baseline_auc={baseline:.4f} writeback_ratio={ratio:.2f} "
          f"changed_only_saving={saving:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
