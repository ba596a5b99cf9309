"""`make screenshots`: every image under docs/images, taken again from the running app, so none goes stale.

    .venv/bin/python -m tools.screenshots             # all of them
    .venv/bin/python -m tools.screenshots ops-sync    # only those whose name contains a word

It needs nothing running: like `make run` it starts the embedded Postgres and Redis (or uses
DATABASE_URL / REDIS_URL), but on a database of its own (`connectapp_screenshots`, made fresh each
time, with `make run`'s demo data) and on free ports, so a `make run` beside it is not disturbed.
It runs every process of Procfile.local (web, worker, the local org, the local Connect), logs in as
the first demo customer and as the operator in Debian's Chromium driven by Playwright (the browser
tests' executable and arguments: tests/browser.py), and writes IMAGES, viewport-sized, under
docs/images. Pages are found by URL and waited for by their first heading, so restyled markup
changes the pictures, not the tool. The processes' output goes to .data/screenshots.log.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import requests
from honcho.environ import parse_procfile

from core import config, db, invoicing, logins
from core.paths import ROOT
from standins import run, services
from tests.browser import ARGS, CHROMIUM

OUT = ROOT / "docs" / "images"
LOG = services.DATA_DIR / "screenshots.log"
DATABASE = "connectapp_screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Every image the tool writes, in the order it takes them, with what it shows (docs use the names).
IMAGES = {
    "portal-orders.png": "a demo customer's order list (/orders)",
    "portal-order.png": "one order with its items, invoices, cases and the case form (/orders/<sfid>)",
    "portal-case.png": "a case filed from that order, after its round trip through Connect (/cases/<key>)",
    "portal-journey.png": "that case's journey panel: each hop from the portal to Salesforce and back",
    "portal-profile.png": "the customer's contact details and API tokens (/profile)",
    "portal-phone.png": "the order list on a 390 px wide phone screen",
    "learn.png": "the walkthrough of the six setup steps (/learn)",
    "ops-sync.png": "the sync health console (/ops/sync)",
    "ops-invoicing.png": "batch invoicing: last month's estimate, a finished run of the month before (/ops/invoicing)",
    "ops-model.png": "the churn model's card and charts, after one training (/ops/model)",
    "local-org.png": "the local Salesforce org's home: its objects, record counts and API use",
    "api-reference.png": "the API reference rendered from the OpenAPI document (/api/docs)",
}
WAIT = 90  # seconds for a process to come up, a case to make its round trip, a training to end
SYNC_WAIT = 60


class NotThere(Exception):
    """The page is not in this version of the app (its URL answers 404): its image is skipped."""


def _until(what: str, check, seconds: float = WAIT):
    """Call `check` until it returns something true; fail saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {seconds:.0f} s (see {LOG})")
        time.sleep(0.5)


def _answers(url: str, **kwargs) -> bool:
    try:
        return requests.get(url, timeout=5, **kwargs).status_code == 200
    except requests.RequestException:
        return False


def stack_env() -> dict:
    """`make run`'s environment, on this tool's own database and ports (and Redis: see stack())."""
    env = run.local_env()
    server = env.get("DATABASE_URL") or services.embedded_postgres().get_uri()
    env["DATABASE_URL"] = services.ensure_database(server, DATABASE, fresh=True)
    env["PORT"] = str(services.free_port())
    env["LOCAL_ORG_PORT"] = str(services.free_port())
    env["LOCAL_ORG_URL"] = f"http://127.0.0.1:{env['LOCAL_ORG_PORT']}"
    env["OPS_USERNAME"], env["OPS_PASSWORD"] = "ops", secrets.token_urlsafe(12)
    env["WEB_CONCURRENCY"] = "2"
    return env


@contextmanager
def stack():
    """Prepare the database, run Procfile.local's processes as make run does, stop them (only them) afterwards."""
    env = stack_env()
    redis_server = None
    if not env.get("REDIS_URL"):
        # unix socket paths are limited to ~100 bytes: keep the directory short.
        redis_server = services.EmbeddedRedis(Path("/tmp") / f"connectapp-shots-{os.getpid()}").start()
        env["REDIS_URL"] = redis_server.url
    env = run.prepare(env, log=lambda *_: None)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    processes = []
    with LOG.open("w") as log:
        try:
            for name, command in parse_procfile(run.PROCFILE.read_text()).processes.items():
                processes.append(subprocess.Popen(run.command_for(name, command), shell=True, env=env, cwd=ROOT,
                                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
                print(f"  started {name} (pid {processes[-1].pid})")
            app = f"http://127.0.0.1:{env['PORT']}"
            _until("the web process", lambda: _answers(f"{app}/healthz"))
            _until("the local org", lambda: _answers(env["LOCAL_ORG_URL"] + "/"))
            yield env, app
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            if redis_server:
                redis_server.stop()
                shutil.rmtree(redis_server.directory, ignore_errors=True)


def demo_customer(env: dict) -> dict:
    """The first demo login (the biggest account), created or reset."""
    cfg = config.load(env)
    with db.connect(cfg.database_url) as conn:
        return logins.create_demo_users(conn, cfg.connect_schema, cfg.app_schema, count=1)[0]


def train_model(env: dict) -> None:
    """One training of the churn model on the worker, so the model page has a card and charts."""
    subprocess.run([sys.executable, "manage.py", "scores", "train", "--wait"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def invoice_a_month(env: dict) -> str:
    """One invoice run for the month before last, so /ops/invoicing lists a run; last month, for its estimate."""
    last = invoicing.previous_period()
    before = invoicing.previous_period(date.fromisoformat(last + "-01"))
    subprocess.run([sys.executable, "manage.py", "invoices", "run", "--period", before, "--wait", "--force"],
                   env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return last


class Camera:
    """A Chromium page that goes to a URL, waits for its heading, and saves the viewport."""

    def __init__(self, page, wanted):
        self.page, self.wanted, self.taken, self.skipped = page, wanted, [], []

    def want(self, name: str) -> bool:
        return name in self.wanted

    def open(self, url: str):
        response = self.page.goto(url)
        if response is not None and response.status == 404:
            raise NotThere(url)
        self.page.wait_for_selector("h1", state="visible")
        return response

    def shoot(self, name: str, url: str | None = None) -> None:
        """Save the viewport as docs/images/<name> (after opening `url`, when given)."""
        if not self.want(name):
            return
        try:
            if url:
                self.open(url)
        except NotThere as exc:
            self.skipped.append(name)
            print(f"  skipped {name}: {exc} answers 404 in this version of the app")
            return
        self.page.evaluate("document.fonts.ready")
        path = OUT / name
        self.page.screenshot(path=str(path), animations="disabled", caret="hide")
        shrink(path)
        self.taken.append(name)
        print(f"  wrote docs/images/{name} ({path.stat().st_size // 1024} KB)")


def shrink(path: Path) -> None:
    """Re-save the PNG with the best compression when Pillow is installed (it is optional)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        image.load()
    image.save(path, optimize=True)


def _browser(playwright, tmp: Path, viewport: dict, **context):
    return playwright.chromium.launch_persistent_context(
        str(tmp), executable_path=str(CHROMIUM), args=ARGS, headless=True, viewport=viewport,
        device_scale_factor=1, locale="en-US", timezone_id="UTC", **context)


def log_in(camera: Camera, app: str, user: dict) -> None:
    """Log in through the portal's form as `user`; the browser lands on the orders."""
    page = camera.page
    camera.open(f"{app}/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", user["password"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{app}/orders*")


def customer_pages(camera: Camera, app: str, user: dict) -> None:
    """Log in as the demo customer; the orders, an order, a case's round trip, the profile."""
    page = camera.page
    log_in(camera, app, user)
    camera.shoot("portal-orders.png", f"{app}/orders")
    order = page.locator("main a[href^='/orders/']:not([href$='.csv'])").first.get_attribute("href")
    camera.shoot("portal-order.png", app + order)
    if camera.want("portal-case.png") or camera.want("portal-journey.png"):
        camera.open(app + order)
        page.fill("input[name=subject]", "One box arrived damaged")
        page.fill("textarea[name=description]", "The corner of the second box was crushed.")
        page.select_option("select[name=type]", "Problem")
        page.click("button:has-text('File a case')")
        page.wait_for_url(f"{app}/cases/*")
        key = page.url.rstrip("/").rsplit("/", 1)[-1]
        # Salesforce gives the case its number; Connect brings it back to Postgres on its next poll.
        _until("the case's round trip through the local Connect",
               lambda: (page.request.get(f"{app}/api/v1/cases/{key}").json() or {}).get("case_number"),
               SYNC_WAIT)
        camera.shoot("portal-case.png", page.url)
        page.locator("section.journey").scroll_into_view_if_needed()
        camera.shoot("portal-journey.png")
    camera.shoot("portal-profile.png", f"{app}/profile")
    camera.shoot("learn.png", f"{app}/learn")


def operator_pages(camera: Camera, app: str, env: dict) -> None:
    """The operator pages (HTTP Basic comes with every request of this browser), the org, the reference."""
    camera.shoot("ops-sync.png", f"{app}/ops/sync")
    camera.shoot("ops-invoicing.png", f"{app}/ops/invoicing?period={env['ESTIMATE_PERIOD']}")
    camera.shoot("ops-model.png", f"{app}/ops/model")
    camera.shoot("local-org.png", env["LOCAL_ORG_URL"] + "/")
    camera.shoot("api-reference.png", f"{app}/api/docs")


def phone_pages(camera: Camera, app: str, user: dict) -> None:
    """The order list as a phone shows it."""
    log_in(camera, app, user)
    camera.shoot("portal-phone.png", f"{app}/orders")


def take(wanted: list[str]) -> list[str]:
    """Start the stack, take the wanted images; the names written."""
    from playwright.sync_api import sync_playwright  # only this tool and the browser tests need Playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: install Debian's chromium package (or set CHROMIUM)")
    OUT.mkdir(parents=True, exist_ok=True)
    profiles = services.DATA_DIR / "screenshots-profiles"
    shutil.rmtree(profiles, ignore_errors=True)
    taken, skipped = [], []
    with stack() as (env, app), sync_playwright() as playwright:
        user = demo_customer(env)
        if "ops-model.png" in wanted:
            print("  training the churn model once (for /ops/model) ...")
            train_model(env)
        env["ESTIMATE_PERIOD"] = invoicing.previous_period()
        if "ops-invoicing.png" in wanted:
            print("  invoicing the month before last (for /ops/invoicing) ...")
            env["ESTIMATE_PERIOD"] = invoice_a_month(env)
        runs = [(customer_pages, DESKTOP, {}, user), (phone_pages, PHONE, {"is_mobile": True}, user),
                (operator_pages, DESKTOP, {"http_credentials": {"username": env["OPS_USERNAME"],
                                                                "password": env["OPS_PASSWORD"]}}, env)]
        for n, (pages, viewport, context, who) in enumerate(runs):
            browser = _browser(playwright, profiles / str(n), viewport, **context)
            try:
                camera = Camera(browser.new_page(), wanted)
                pages(camera, app, who)
                taken += camera.taken
                skipped += camera.skipped
            finally:
                browser.close()
    shutil.rmtree(profiles, ignore_errors=True)
    missing = [name for name in wanted if name not in taken and name not in skipped]
    if missing:
        raise SystemExit(f"not taken: {', '.join(missing)}")
    return taken


def main(argv=None) -> int:
    words = sys.argv[1:] if argv is None else argv
    wanted = [name for name in IMAGES if not words or any(word in name for word in words)]
    if not wanted:
        print(f"no image is named like {' '.join(words)}; the images: {', '.join(IMAGES)}", file=sys.stderr)
        return 2
    print(f"make screenshots: {len(wanted)} image(s) into {OUT.relative_to(ROOT)}/ (processes log to {LOG})")
    taken = take(wanted)
    print(f"done: {len(taken)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
