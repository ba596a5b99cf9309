"""Benchmark: the portal's order list and order detail against /healthz, under 32 concurrent clients.

    .venv/bin/python -m bench.portal                  # 1,000,000 orders, 100,000 accounts (loaded once)
    .venv/bin/python -m bench.portal --seconds 5      # shorter runs

It loads the demo data set into its own database (`connectapp_bench_portal`, reused on later runs:
the first account is the big one with 10,000 orders), creates the demo logins, starts gunicorn
exactly as the Procfile does (gunicorn.conf.py, WEB_CONCURRENCY=2, bound to 127.0.0.1), logs in
as the big account's user, and drives each page with wrk in a second process (`apt-get install
wrk`): 32 keep-alive connections, each request carrying the session cookie and a fresh
X-Request-ID as Heroku's router sends, a 1 s warm-up and then `--seconds` measured in rounds of
2 s, each round on new connections (see wrk_load: where the kernel places a connection is drawn
once per connection). wrk is a C event loop, so the load generator takes little of the CPU the
server needs. Printed, all from the same run: requests/s, p50 and p95 latency over all rounds
for each page (and each round's p95), and its throughput as a ratio of /healthz (which checks
Postgres and Redis and nothing else).

Targets: order list ≥ 0.5 × /healthz throughput, p95 < 25 ms.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from bench import setup
from core import db, logins
from core.paths import ROOT
from standins import services

RESULTS = ROOT / "bench" / "results"
DATABASE = "connectapp_bench_portal"
ACCOUNTS, ORDERS = 100_000, 1_000_000
CLIENTS = 32
ROUND_SECONDS = 2


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
    body = urlencode({"email": email, "password": password, "csrf_token": token, "next": ""})
    connection.request("POST", "/login", body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"login answered {response.status}")
    return _cookie(response)


# wrk's script: cycle through the page's paths with the session cookie; print the figures as JSON.
WRK_SCRIPT = """
local paths = {%(paths)s}
local i = 0
local thread_id = 0
setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tag", string.format("%%04d", thread_id))
end
-- Like Heroku's router: a session cookie from the browser, a fresh X-Request-ID on every request.
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1], {
    ["Cookie"] = "%(cookie)s",
    ["X-Request-ID"] = string.format("bench-%%s-%%012d-load", tag, i),
  })
end
done = function(summary, latency, requests)
  local e = summary.errors
  local points = {}
  for p = 1, 100 do points[p] = string.format("%%d", latency:percentile(p - 0.5)) end
  io.write(string.format('{"requests": %%d, "seconds": %%.6f, "p50_us": %%d, "p95_us": %%d, "non_2xx": %%d, ' ..
    '"socket_errors": %%d, "centiles_us": [%%s]}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(95), e.status, e.connect + e.read + e.write + e.timeout,
    table.concat(points, ", ")))
end
"""


def check_pages(port: int, pages: dict[str, list[str]], cookie: str) -> None:
    """Every measured URL answers 200 to this session (wrk counts only 4xx/5xx as errors, not a redirect to /login)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for paths in pages.values():
        for path in paths:
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}, not 200")


def _merged_percentile(rounds: list[dict], q: float) -> float:
    """The q-th percentile (ms) of all rounds' requests together, from each round's 100 centiles."""
    points = sorted((c, r["requests"] / 100) for r in rounds for c in r["centiles_us"])
    target = q / 100 * sum(r["requests"] for r in rounds)
    seen = 0.0
    for value, weight in points:
        seen += weight
        if seen >= target:
            return value / 1000
    return points[-1][0] / 1000


def wrk_load(wrk: str, port: int, paths: list[str], cookie: str, seconds: float, clients: int = CLIENTS) -> dict:
    """`clients` keep-alive connections from wrk, in rounds of ROUND_SECONDS with new connections each.

    Which gunicorn process serves a connection is settled once, by the kernel's hash, when the
    connection opens: one draw can put 19 of 32 connections on one process and 13 on the other,
    and the 19 then wait about 40 % longer. Behind Heroku's router, whose many connections come
    and go, that averages out; one long run would measure a single draw. So each round opens its
    own connections, the figures cover all rounds together, and each round's p95 is kept too.
    """
    lua = WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "cookie": cookie}
    rounds = []
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(lua)
        script.flush()
        for n in range(1 + max(1, round(seconds / ROUND_SECONDS))):  # a 1 s warm-up, then the rounds
            duration = 1 if n == 0 else ROUND_SECONDS
            out = subprocess.run(
                [wrk, "-t2", f"-c{clients}", f"-d{duration}s", "-s", script.name, f"http://127.0.0.1:{port}"],
                capture_output=True, text=True, check=True, timeout=duration + 60,
            ).stdout
            if n:
                rounds.append(json.loads(out.strip().splitlines()[-1]))
    requests = sum(r["requests"] for r in rounds)
    elapsed = sum(r["seconds"] for r in rounds)
    return {
        "requests": requests, "seconds": elapsed, "rps": requests / elapsed,
        "failures": sum(r["non_2xx"] + r["socket_errors"] for r in rounds),
        "p50_ms": _merged_percentile(rounds, 50), "p95_ms": _merged_percentile(rounds, 95),
        "round_p95_ms": [r["p95_us"] / 1000 for r in rounds],
    }


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
    wrk = shutil.which("wrk")
    if wrk is None:
        parser.exit(2, "This benchmark drives the load with wrk: install it (Debian/Ubuntu: apt-get install wrk; "
                       "macOS: brew install wrk) and run it again.\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_url = services.embedded_postgres().get_uri()
    url = setup.demo_database(server_url, DATABASE, accounts=ACCOUNTS, orders=ORDERS)
    with db.connect(url) as conn:
        user = logins.create_demo_users(conn, "salesforce", "app", count=1)[0]
        account = logins.user_by(conn, "salesforce", "app", email=user["email"])["account_sfid"]
        orders_of_user = conn.execute('SELECT count(*) AS n FROM salesforce."order" WHERE accountid = %s',
                                      (account,)).fetchone()["n"]
    redis_server = services.EmbeddedRedis(Path("/tmp") / f"connectapp-bench-redis-{os.getpid()}").start()
    port = services.free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_server.url, "SECRET_KEY": "b" * 64,
           "APP_ENV": "production", "APP_URL": "https://portal.example.com", "WEB_CONCURRENCY": "2", "PORT": str(port)}
    master = setup.start_gunicorn(env, port, RESULTS / "gunicorn-portal.log")
    try:
        cookie = log_in(port, user["email"], user["password"])
        pages = pages_to_hit(url, account)
        check_pages(port, pages, cookie)
        figures = {name: wrk_load(wrk, port, paths, cookie, args.seconds) for name, paths in pages.items()}
    finally:
        master.terminate()
        master.wait(30)
        redis_server.stop()
    report(figures, user["email"], orders_of_user)
    (RESULTS / "portal.json").write_text(json.dumps(figures, indent=2))
    return 0



def report(figures: dict, email: str, orders: int) -> None:
    """Print each page's figures and its ratio to /healthz."""
    base = figures["/healthz"]["rps"]
    print(f"\nlogged in as {email} (an account with {orders:,} orders); {CLIENTS} concurrent clients, "
          "gunicorn.conf.py with WEB_CONCURRENCY=2\n")
    print(f"{'page':<22} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'× /healthz':>10} {'errors':>7}"
          f"   p95 of each {ROUND_SECONDS} s round (new connections each)")
    for name, r in figures.items():
        rounds = " ".join(f"{x:.1f}" for x in r["round_p95_ms"])
        print(f"{name:<22} {r['requests']:>9,} {r['rps']:>8.0f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
              f"{r['rps'] / base:>10.2f} {r['failures']:>7}   {rounds}")
    print("\ntargets: order list ≥ 0.50 × /healthz, p95 < 25 ms")


if __name__ == "__main__":
    sys.exit(main())
