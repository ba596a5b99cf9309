"""Lighthouse scores of the landing page and the orders page, served as on Heroku (`make lighthouse`).

    .venv/bin/python -m tools.lighthouse                   # mobile (Lighthouse's default: slow 4G, 4x CPU)
    .venv/bin/python -m tools.lighthouse --preset desktop --runs 5

It installs the pinned Lighthouse with npm under .data/lighthouse (once), loads the demo data into a
database of its own (`connectapp_lighthouse`, reused by later runs), starts gunicorn as the Procfile
does, logs in as the first demo customer and runs Lighthouse in Debian's headless Chromium
(CHROME_PATH, default /usr/bin/chromium) on each page. It prints the four category scores per page
and exits 1 when one is below TARGET. Each page is measured --runs times (3 unless told) and the
median score of each category printed: Lighthouse's simulated throttling scales the CPU time it
observes, so one run on a busy machine can be off by several points (Lighthouse's own advice on
variability is the median of several runs). Reports (HTML) of the last run are in .data/lighthouse/reports.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench import setup
from bench.portal import log_in
from core import db, logins
from core.paths import ROOT
from standins import services
from standins.run import DEFAULT_SCALE

VERSION = "12.8.2"  # the newest release that runs on Node 20 (13.x needs Node 22)
HOME = ROOT / ".data" / "lighthouse"
REPORTS = HOME / "reports"
DATABASE = "connectapp_lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PAGES = {"landing": "/", "orders": "/orders"}
TARGET = 95


def lighthouse() -> Path:
    """The pinned Lighthouse CLI, installed with npm under .data/lighthouse when missing."""
    binary = HOME / "node_modules" / ".bin" / "lighthouse"
    installed = HOME / "node_modules" / "lighthouse" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != VERSION:
        HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(HOME), f"lighthouse@{VERSION}"],
                       check=True)
    return binary


def scores(binary: Path, url: str, name: str, cookie: str | None, preset: str) -> dict:
    """Run Lighthouse on one URL; the category scores out of 100."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    command = [str(binary), url, "--quiet", "--output=json", "--output=html", f"--output-path={REPORTS / name}",
               "--chrome-flags=--headless --no-sandbox", f"--only-categories={','.join(CATEGORIES)}"]
    if preset == "desktop":
        command.append("--preset=desktop")
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    subprocess.run(command, check=True, env=env)
    report = json.loads((REPORTS / f"{name}.report.json").read_text())
    return {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}


def main(argv=None) -> int:
    """Prepare the app, score each page, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("mobile", "desktop"), default="mobile")
    parser.add_argument("--runs", type=int, default=3, help="runs per page; the median score is printed")
    args = parser.parse_args(argv)
    binary = lighthouse()
    url = setup.demo_database(services.embedded_postgres().get_uri(), DATABASE, **DEFAULT_SCALE)
    with db.connect(url) as conn:
        user = logins.create_demo_users(conn, "salesforce", "app", count=1)[0]
    redis_server = services.EmbeddedRedis(Path("/tmp") / f"connectapp-lighthouse-redis-{os.getpid()}").start()
    port = services.free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_server.url, "SECRET_KEY": "l" * 64,
           "APP_ENV": "production", "APP_URL": "https://portal.example.com", "WEB_CONCURRENCY": "2",
           "PORT": str(port)}
    HOME.mkdir(parents=True, exist_ok=True)
    master = setup.start_gunicorn(env, port, HOME / "gunicorn.log")
    try:
        cookie = log_in(port, user["email"], user["password"])
        figures = {}
        for name, path in PAGES.items():
            runs = [scores(binary, f"http://127.0.0.1:{port}{path}", f"{name}-{args.preset}",
                           cookie if name != "landing" else None, args.preset) for _ in range(args.runs)]
            figures[name] = {c: round(statistics.median(run[c] for run in runs)) for c in CATEGORIES}
            print(f"{name}: performance in each run {[run['performance'] for run in runs]}", flush=True)
    finally:
        master.terminate()
        master.wait(30)
        redis_server.stop()
    print(f"Lighthouse {VERSION}, {args.preset}, median of {args.runs} runs; reports in {REPORTS.relative_to(ROOT)}")
    print(f"{'page':<10}" + "".join(f"{c:>16}" for c in CATEGORIES))
    for name, got in figures.items():
        print(f"{name:<10}" + "".join(f"{got[c]:>16}" for c in CATEGORIES))
    return 0 if all(v >= TARGET for got in figures.values() for v in got.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
