"""Benchmark: the portal's order list and order detail against /healthz, under 32 concurrent clients.

    .venv/bin/python -m bench.portal                  # 1,000,000 orders, 100,000 accounts (loaded once)
    .venv/bin/python -m bench.portal --seconds 5      # shorter runs

It loads the demo data set into its own database (`connectapp_bench_portal`, reused on later runs:
the first account is the big one with 10,000 orders), creates the demo logins, starts gunicorn
exactly as the Procfile does (gunicorn.conf.py, WEB_CONCURRENCY=2, bound to 127.0.0.1), logs in
as the big account's user, and runs a load generator in a second process: 32 threads, each with
its own keep-alive connection, for a bounded time and request count per page. Printed, all from
the same run: requests/s, p50 and p95 latency for each page and its throughput as a ratio of
/healthz (which checks Postgres and Redis and nothing else).

Targets: order list ≥ 0.5 × /healthz throughput, p95 < 25 ms.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import re
import sys
import threading
import time
from pathlib import Path

from core import db, logins
from core.connect import ROOT
from core.migrate import migrate
from standins import demo_data, services
from standins.provision import provision

RESULTS = ROOT / "bench" / "results"
DATABASE = "connectapp_bench_portal"
ACCOUNTS, ORDERS = 100_000, 1_000_000
CLIENTS = 32
MAX_REQUESTS = 200_000


def prepare_database(server_url: str) -> str:
    """The bench database with 1,000,000 orders and the demo logins (loaded once, reused)."""
    url = services.ensure_database(server_url, DATABASE)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
        if not demo_data.loaded(conn, "app"):
            print(f"loading {ORDERS:,} orders over {ACCOUNTS:,} accounts (once) …", flush=True)
            demo_data.load(conn, accounts=ACCOUNTS, orders=ORDERS, log=lambda *_: None)
            migrate(conn, "app", "salesforce", log=lambda *_: None)  # the app's indexes on the loaded tables
        conn.execute("ANALYZE")
    return url


def start_gunicorn(env: dict, port: int, log: Path):
    """gunicorn as the Procfile runs it (gunicorn.conf.py), bound to loopback."""
    import subprocess

    master = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "web:create_app()"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return master
        except OSError:
            pass
        time.sleep(0.2)
    master.terminate()
    raise RuntimeError(f"gunicorn did not start; see {log}")


def _cookie(response) -> str:
    """The name=value of a response's Set-Cookie."""
    return response.getheader("Set-Cookie", "").split(";", 1)[0]


def log_in(port: int, email: str, password: str) -> str:
    """Log in through the login form (CSRF token included); return the session cookie."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = _cookie(response)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    from urllib.parse import urlencode

    body = urlencode({"email": email, "password": password, "csrf_token": token, "next": ""})
    connection.request("POST", "/login", body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"login answered {response.status}")
    return _cookie(response)


def _client(port, paths, cookie, stop_at, budget, latencies, failures):
    """One client: requests in a loop on one keep-alive connection until time or budget runs out."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while time.perf_counter() < stop_at and budget.acquire(blocking=False):
        path = paths[n % len(paths)]
        n += 1
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            failures.append(path)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            failures.append(f"{response.status} {path}")


def load(port: int, paths: list[str], cookie: str, seconds: float, clients: int = CLIENTS) -> dict:
    """`clients` threads hitting `paths` for `seconds` (at most MAX_REQUESTS); throughput and latencies."""
    warm_until = time.perf_counter() + 1
    threads = [threading.Thread(target=_client, args=(port, paths, cookie, warm_until, threading.Semaphore(10**9),
                                                      [], [])) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies, failures = [], []
    budget = threading.Semaphore(MAX_REQUESTS)
    started = time.perf_counter()
    stop_at = started + seconds
    threads = [threading.Thread(target=_client, args=(port, paths, cookie, stop_at, budget, latencies, failures))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count, "failures": len(failures), "first_failures": failures[:3], "seconds": elapsed,
        "rps": count / elapsed,
        "p50_ms": latencies[count // 2] * 1000 if count else None,
        "p95_ms": latencies[int(count * 0.95)] * 1000 if count else None,
    }


def _generator(port, pages, cookie, seconds, results):
    """The load generator process: each page in turn, results sent back to the parent."""
    results.put({name: load(port, paths, cookie, seconds) for name, paths in pages.items()})


BIG_ACCOUNT_ORDERS = """
SELECT o.sfid, o.effectivedate FROM salesforce."order" o
WHERE o.accountid = %(account)s ORDER BY o.effectivedate DESC, o.sfid DESC
"""


def pages_to_hit(url: str, account: str) -> dict[str, list[str]]:
    """The URLs of each measured page: the list's first page, a deep page, 200 different orders."""
    with db.connect(url) as conn:
        rows = conn.execute(BIG_ACCOUNT_ORDERS, {"account": account}).fetchall()
    deep = rows[len(rows) // 2]
    return {
        "/healthz": ["/healthz"],
        "order list": ["/orders"],
        "order list, page 200": [f"/orders?after={deep['effectivedate'].isoformat()}~{deep['sfid']}"],
        "order detail": [f"/orders/{r['sfid']}" for r in rows[::max(1, len(rows) // 200)][:200]],
    }


def main(argv=None) -> int:
    """Prepare, start gunicorn, log in, run the load generator, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per page")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_url = services.embedded_postgres().get_uri()
    url = prepare_database(server_url)
    with db.connect(url) as conn:
        user = logins.create_demo_users(conn, "salesforce", "app", count=1)[0]
        account = logins.user_by(conn, "salesforce", "app", email=user["email"])["account_sfid"]
        orders_of_user = conn.execute('SELECT count(*) AS n FROM salesforce."order" WHERE accountid = %s',
                                      (account,)).fetchone()["n"]
    redis_server = services.EmbeddedRedis(Path("/tmp") / f"connectapp-bench-redis-{os.getpid()}").start()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_server.url, "SECRET_KEY": "b" * 64,
           "APP_ENV": "production", "WEB_CONCURRENCY": "2", "PORT": str(port)}
    master = start_gunicorn(env, port, RESULTS / "gunicorn-portal.log")
    try:
        cookie = log_in(port, user["email"], user["password"])
        pages = pages_to_hit(url, account)
        results = multiprocessing.get_context("spawn").Queue()
        generator = multiprocessing.get_context("spawn").Process(
            target=_generator, args=(port, pages, cookie, args.seconds, results))
        generator.start()
        figures = results.get(timeout=len(pages) * (args.seconds + 30))
        generator.join(30)
    finally:
        master.terminate()
        master.wait(30)
        redis_server.stop()
    report(figures, user["email"], orders_of_user)
    (RESULTS / "portal.json").write_text(json.dumps(figures, indent=2))
    return 0


def _free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(figures: dict, email: str, orders: int) -> None:
    """Print each page's figures and its ratio to /healthz."""
    base = figures["/healthz"]["rps"]
    print(f"\nlogged in as {email} (an account with {orders:,} orders); {CLIENTS} concurrent clients, "
          "gunicorn.conf.py with WEB_CONCURRENCY=2\n")
    print(f"{'page':<22} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'× /healthz':>10} {'errors':>7}")
    for name, r in figures.items():
        print(f"{name:<22} {r['requests']:>9,} {r['rps']:>8.0f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
              f"{r['rps'] / base:>10.2f} {r['failures']:>7}")
    print("\ntargets: order list ≥ 0.50 × /healthz, p95 < 25 ms")


if __name__ == "__main__":
    sys.exit(main())
