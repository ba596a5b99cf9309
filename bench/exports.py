"""Benchmark: streamed CSV export through the running app vs `COPY (same query) TO STDOUT`.

    .venv/bin/python -m bench.exports            # 100,000 and 1,000,000 orders (loads them once)
    .venv/bin/python -m bench.exports --sizes 100000

For each size it loads demo data into its own database (`connectapp_bench_<size>`, reused on later
runs), starts gunicorn exactly as the Procfile does (gunicorn.conf.py; bound to 127.0.0.1, one
process so its memory can be read), downloads `/ops/exports/orders.csv`, and in the same run
reads the same query with a single `COPY … TO STDOUT` from this process. It prints:

- throughput (MB/s and rows/s) of both, and their ratio (target: the app ≥ 0.5× COPY);
- time to first byte of the download (target < 1 s; Heroku's router allows 30 s);
- peak RSS of the gunicorn worker process during the download (target: flat between sizes).
"""

import argparse
import base64
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil

from bench import setup
from core import db, exports
from core.paths import ROOT
from standins import services

RESULTS = ROOT / "bench" / "results"
OPS_USER, OPS_PASSWORD = "bench", "bench-password-not-a-secret"


def start_gunicorn(env: dict, port: int, log: Path):
    """gunicorn as the Procfile runs it; returns (master, worker) so the worker's memory can be read."""
    master = setup.start_gunicorn(env, port, log)
    deadline = time.monotonic() + 10
    while not (children := psutil.Process(master.pid).children()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn started no worker; see {log}")
        time.sleep(0.05)
    return master, children[0]


def sample_rss(process: psutil.Process, stop: threading.Event, peak: list) -> None:
    """Record the process's highest resident memory until stopped."""
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], process.memory_info().rss)
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)


def download(port: int, worker: psutil.Process) -> dict:
    """GET the all-orders export; time to first byte, total time, bytes, lines, peak worker RSS."""
    rss_before = worker.memory_info().rss
    stop, peak = threading.Event(), [rss_before]
    sampler = threading.Thread(target=sample_rss, args=(worker, stop, peak))
    sampler.start()
    token = base64.b64encode(f"{OPS_USER}:{OPS_PASSWORD}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", "/ops/exports/orders.csv", headers={"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    first = response.read1(65536)
    first_byte = time.perf_counter() - started
    size, lines = len(first), first.count(b"\n")
    while piece := response.read1(1 << 20):
        size += len(piece)
        lines += piece.count(b"\n")
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    if response.status != 200:
        raise RuntimeError(f"export answered {response.status}")
    return {"seconds": elapsed, "first_byte_s": first_byte, "bytes": size, "rows": lines - 1,
            "rss_before_mb": rss_before / 2**20, "rss_peak_mb": peak[0] / 2**20}


def copy_baseline(url: str) -> dict:
    """The same query as one COPY … TO STDOUT, read by psycopg in this process."""
    statement = exports.copy_all_statement(exports.get("orders"), "salesforce", "app")
    with db.connect(url) as conn:
        started = time.perf_counter()
        first_byte, size, rows = None, 0, 0
        with conn.cursor().copy(statement) as copy:
            for data in copy:
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(data)
                rows += 1
        return {"seconds": time.perf_counter() - started, "first_byte_s": first_byte, "bytes": size, "rows": rows}



def measure(server_url: str, redis_url: str, orders: int) -> dict:
    """Both ways for one size: the app's stream (twice, best kept) and COPY (twice, best kept)."""
    url = setup.demo_database(server_url, f"connectapp_bench_{orders}", accounts=max(1, orders // 10), orders=orders)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": "b" * 64,
           "APP_ENV": "production", "APP_URL": "https://portal.example.com", "WEB_CONCURRENCY": "1",
           "OPS_USERNAME": OPS_USER, "OPS_PASSWORD": OPS_PASSWORD}
    port = services.free_port()
    master, worker = start_gunicorn(env, port, RESULTS / f"gunicorn-{orders}.log")
    try:
        app = [download(port, worker) for _ in range(2)]
    finally:
        master.terminate()
        master.wait(30)
    baseline = [copy_baseline(url) for _ in range(2)]
    best_app, best_copy = min(app, key=lambda r: r["seconds"]), min(baseline, key=lambda r: r["seconds"])
    return {"orders": orders, "app": best_app, "copy": best_copy,
            "ratio": best_copy["seconds"] / best_app["seconds"],
            "rss_peak_mb": max(r["rss_peak_mb"] for r in app)}


def report(results: list[dict]) -> None:
    """Print the figures and the targets."""
    print(f"\n{'orders':>10} {'app s':>7} {'app MB/s':>9} {'COPY s':>7} {'COPY MB/s':>10} {'ratio':>6} "
          f"{'TTFB ms':>8} {'RSS MB (before → peak)':>24}")
    for r in results:
        app, copy = r["app"], r["copy"]
        print(f"{r['orders']:>10,} {app['seconds']:>7.2f} {app['bytes'] / 2**20 / app['seconds']:>9.1f} "
              f"{copy['seconds']:>7.2f} {copy['bytes'] / 2**20 / copy['seconds']:>10.1f} {r['ratio']:>6.2f} "
              f"{app['first_byte_s'] * 1000:>8.1f} {app['rss_before_mb']:>11.1f} → {r['rss_peak_mb']:>8.1f}")
        assert app["rows"] == copy["rows"] == r["orders"], "the app and COPY must export the same rows"
    print("\ntargets: ratio ≥ 0.5 (app vs COPY throughput), TTFB < 1000 ms, peak RSS flat across sizes")


def main(argv=None) -> int:
    """Run the benchmark for the sizes asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_url = services.embedded_postgres().get_uri()
    redis_server = services.EmbeddedRedis(Path("/tmp") / f"connectapp-bench-redis-{os.getpid()}").start()
    try:
        results = [measure(server_url, redis_server.url, orders) for orders in args.sizes]
    finally:
        redis_server.stop()
    report(results)
    (RESULTS / "exports.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
