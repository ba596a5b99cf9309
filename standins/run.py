"""`make run`: the whole app on one machine, the way Heroku runs it, with local stand-ins.

1. Reads `.env` (writing a fresh SECRET_KEY and operator login into it the first time; 0600).
2. Starts the embedded Postgres and Redis unless DATABASE_URL / REDIS_URL are set.
3. Builds the Connect schema as Connect would, migrates the app schema, loads demo data once.
4. Runs every process of Procfile.local (web, worker, stand-ins) with honcho, like `heroku local`;
   the local Connect starts once the local org answers, as a real org always does.
Once the web port, the org and the worker answer and the local Connect has been through its first
cycle, it prints one banner: where everything is (portal, /learn, operator pages with their login,
the local org, the API reference and docs), the demo logins with the size of each account, and how
to stop. After it, each sync hop is one line
from the local Connect. Ctrl-C stops the processes, then Redis, then Postgres: nothing is left running.

While it runs, the URLs it chose (database, Redis, the local org, the web port) are in
`.data/run.json`: `make verify-sync` (`python -m standins.run exec …`) runs its command against them.
"""

import json
import os
import secrets
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer
from psycopg import sql
from rq.worker import Worker

from core import config, db, logins, queue, sync_sampler
from core.migrate import migrate
from core.paths import ROOT
from standins import demo_data, services
from standins.connect import state as connect_state
from standins.provision import provision

ENV_FILE = ROOT / ".env"
PROCFILE = ROOT / "Procfile.local"
DATABASE_NAME = "connectapp"
DEFAULT_SCALE = {"accounts": 1_000, "orders": 10_000}
LOCAL_CONNECT_INFO = "standins.connect.info.LocalConnectInfo"
# What a running `make run` records for the commands run beside it (`exec`).
# (MAKE_RUN_FILE elsewhere: the test that runs `make run` must not overwrite a developer's running one.)
RUN_FILE = Path(os.environ.get("MAKE_RUN_FILE") or services.DATA_DIR / "run.json")
RECORDED = ("DATABASE_URL", "REDIS_URL", "LOCAL_ORG_URL", "PORT", "CONNECT_SCHEMA", "APP_SCHEMA")
# Started once the local org answers: started with it, the local Connect's first login would find
# nothing listening and report the org unreachable, which a real org never is at that moment.
AFTER_ORG = ("connect",)
# How long a process may take to answer before the banner says which did not (a slow first start
# loads the demo data into the org); the local Connect waits as long for the org, then starts anyway.
READY_TIMEOUT = 180.0
# How make run's own requests introduce themselves: gunicorn.conf.py leaves their access lines out.
READINESS_PROBE = "make-run-readiness"
# The org's API versions list: a real org answers it without a session too.
ORG_PROBE = "/services/data/"


def _parse_env(text: str) -> dict:
    """KEY=VALUE lines (comments and blank lines skipped, quotes stripped)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def read_env_file(path=ENV_FILE) -> dict:
    """KEY=VALUE lines of .env, written with a random SECRET_KEY and operator login the first time.

    A value already in the file is never overwritten; an older .env without the operator login
    gets one appended, so the ops pages open with the credentials `make run` prints.
    """
    if not path.exists():
        path.write_text("# Local settings for make run (git-ignored, readable by you only). "
                        "See .env.example for every variable.\n")
        path.chmod(0o600)
    values = _parse_env(path.read_text())
    missing = []
    if not values.get("SECRET_KEY"):
        missing.append(f"SECRET_KEY={secrets.token_hex(32)}")
    if not values.get("OPS_USERNAME") and not values.get("OPS_PASSWORD"):
        missing += ["# The operator pages (/ops/sync, /ops/invoicing, /ops/exports) take this HTTP Basic login.",
                    "OPS_USERNAME=ops", f"OPS_PASSWORD={secrets.token_urlsafe(18)}"]
    if missing:
        text = path.read_text()
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n")
        values = _parse_env(path.read_text())
    return values


def prepare(env: dict, log=print) -> dict:
    """Start what is missing, provision, migrate and seed; return the environment for the processes."""
    env = dict(env)
    if not env.get("DATABASE_URL"):
        server = services.embedded_postgres()
        env["DATABASE_URL"] = services.ensure_database(server.get_uri(), DATABASE_NAME)
        log(f"embedded Postgres: {env['DATABASE_URL']}")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = services.EmbeddedRedis(services.DATA_DIR / "redis").start().url
        log(f"embedded Redis: {env['REDIS_URL']}")
    cfg = config.load(env)
    with db.connect(cfg.database_url) as conn:
        for line in schema_lines(cfg, provision(conn, cfg.connect_schema, log=lambda *_: None),
                                 migrate(conn, cfg.app_schema, cfg.connect_schema, log=lambda *_: None)):
            log(line)
        if not demo_data.loaded(conn, cfg.app_schema):
            log("loading demo data (once) ...")
            demo_data.load(conn, schema=cfg.connect_schema, app_schema=cfg.app_schema, log=log, **DEFAULT_SCALE)
    # The sync health console's chart: one sample a minute, taken by the worker.
    sync_sampler.schedule(queue.connect(cfg.redis_url))
    return env


def schema_lines(cfg: config.Config, changes: list[str], migrations: list[str]) -> list[str]:
    """What provisioning and migrating did, in a line or two (a first start creates dozens of objects)."""
    created = {"table": 0, "index": 0}
    lines = []
    for change in changes:
        kind = change.split(" ")[1] if change.startswith("created ") else None
        if kind in created:
            created[kind] += 1
        else:
            lines.append(change)  # a column added to a mapping, an old function dropped: worth its own line
    if any(created.values()):
        lines.insert(0, f"Connect schema {cfg.connect_schema}: created {created['table']} tables and "
                        f"{created['index']} indexes, as Heroku Connect creates them")
    if migrations:
        lines.append(f"app schema {cfg.app_schema}: applied {len(migrations)} migration"
                     f"{'s' if len(migrations) != 1 else ''} ({migrations[0]} … {migrations[-1]})"
                     if len(migrations) > 1 else f"app schema {cfg.app_schema}: applied {migrations[0]}")
    return lines


# Orders per account, for the demo logins' lines (the first login's account is the biggest customer).
ORDERS_PER_ACCOUNT = """
SELECT a.accountnumber, count(o.id) AS orders
  FROM {schema}.account a LEFT JOIN {schema}."order" o ON o.accountid = a.sfid
 WHERE a.accountnumber = ANY(%(accounts)s)
 GROUP BY a.accountnumber
"""


def login_lines(conn, cfg: config.Config, users: list[dict] | None = None) -> list[str]:
    """Create (or reset) the demo portal logins, unless given; one line each, with the size of its account."""
    users = logins.create_demo_users(conn, cfg.connect_schema, cfg.app_schema) if users is None else users
    if not users:
        return ["No demo logins: load the demo data first."]
    sizes = {r["accountnumber"]: r["orders"] for r in conn.execute(
        sql.SQL(ORDERS_PER_ACCOUNT).format(schema=sql.Identifier(cfg.connect_schema)),
        {"accounts": [u["account"] for u in users]})}
    width = max(len(f"{u['email']} / {u['password']}") for u in users)
    return ["Demo logins (email / password):"] + [
        f"  {(u['email'] + ' / ' + u['password']):<{width}}   ({u['account']}: {sizes.get(u['account'], 0):,} orders)"
        for u in users
    ]


def demo_logins(env: dict) -> list[str]:
    """Create (or reset) the demo portal logins and return the lines that show them.

    The processes get them as DEMO_LOGINS (local only), for the landing page to list.
    """
    cfg = config.load(env)
    with db.connect(cfg.database_url) as conn:
        users = logins.create_demo_users(conn, cfg.connect_schema, cfg.app_schema)
        if users:
            env["DEMO_LOGINS"] = config.demo_logins_text(users)
        return login_lines(conn, cfg, users)


def banner(env: dict, login_shown: list[str], not_ready: list[str] = ()) -> str:
    """What `make run` prints once everything is up: where each part is, and how to log in to it."""
    app = f"http://localhost:{env['PORT']}"
    rule = "  " + "─" * 78
    lines = [
        "",
        rule,
        f"  Portal (customers)     {app}/login",
        f"  Walkthrough            {app}/learn   (the six setup steps, each with something to try)",
        f"  Operator pages         {app}/ops/sync   {app}/ops/invoicing   {app}/ops/exports",
    ]
    if env.get("OPS_USERNAME"):
        lines.append(" " * 25 + f"login {env['OPS_USERNAME']} / {env.get('OPS_PASSWORD', '')}   (from .env)")
    lines += [
        f"  Local Salesforce org   {env['LOCAL_ORG_URL']}   (browse and edit records; the local Connect syncs them)",
        f"  API reference          {app}/api/docs   (OpenAPI document: {app}/api/v1/openapi.json)",
        f"  Docs                   {ROOT / 'docs' / 'README.md'}   (start here; deploying: docs/deploy.md)",
        "",
        *("  " + line for line in login_shown),
        "",
        "  Below: one line per change the local Connect syncs (→ Salesforce, ← Salesforce), and each page request.",
        "  Ctrl-C stops everything.   In a second terminal: make verify-sync, make manage ARGS=doctor",
    ]
    if not_ready:
        lines.append(f"  Not answering yet: {', '.join(not_ready)} (see the lines above)")
    return "\n".join([*lines, rule, ""])


def local_env() -> dict:
    """The environment every local process gets: .env, then the shell's, then local defaults."""
    env = {**read_env_file(), **os.environ}
    env.setdefault("APP_ENV", "development")
    env.setdefault("PORT", "5000")
    env.setdefault("WEB_CONCURRENCY", "2")
    env.setdefault("LOCAL_ORG_PORT", "5100")
    env.setdefault("LOCAL_ORG_URL", f"http://127.0.0.1:{env['LOCAL_ORG_PORT']}")
    env.setdefault("SALESFORCE_ORG_URL", env["LOCAL_ORG_URL"])  # "View in Salesforce" opens the local org's pages
    # The sync console reads the local Connect's state from its tables; on Heroku it cannot know it.
    env.setdefault("CONNECT_INFO", LOCAL_CONNECT_INFO)
    # The demo data (about 37,600 rows at the default scale) is past the demo plan's 10,000-row cap,
    # which the local Connect does not enforce: plan invoicing runs as on an enterprise plan.
    env.setdefault("CONNECT_PLAN", "enterprise")
    env["PYTHONUNBUFFERED"] = "1"
    # Procfile commands name `gunicorn` and `python`: find them in this virtualenv first.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    # The local org answers every few seconds of polling from the local Connect; a real org's
    # 15,000 requests a day would run out within hours of `make run` (real Connect polls every 10 min).
    env.setdefault("LOCAL_ORG_DAILY_API_LIMIT", "1000000")
    # The local Connect reads each mapping every sf_polling_seconds / LOCAL_CONNECT_TIME_SCALE: 600 s / 300
    # is every 2 s, so a change made in the local org shows in the portal within seconds.
    env.setdefault("LOCAL_CONNECT_TIME_SCALE", "300")
    # The demo data (DEFAULT_SCALE) is larger than the demo plan's 10,000 synced rows: under it the local
    # Connect would stop at TOO_MANY_ROWS. Set CONNECT_PLAN=demo in .env to watch that happen.
    env.setdefault("CONNECT_PLAN", "enterprise")
    return env


def record_run(env: dict, path=RUN_FILE) -> None:
    """Write down the URLs and ports this `make run` uses, for `exec`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: env[k] for k in RECORDED if env.get(k)}, indent=2))
    path.chmod(0o600)  # the database URL may carry a password


def recorded_run(path=RUN_FILE) -> dict:
    """What the running `make run` recorded (empty when none runs)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def exec_env(base: dict, path=RUN_FILE) -> dict:
    """The environment for a command run beside `make run`: `base`, with what the running one recorded."""
    running = recorded_run(path)
    if not running:
        print("make run is not running: the command gets a database, but no local org or Connect to sync with "
              "(start `make run` in another terminal first)", file=sys.stderr)
    return {**base, **running}


def run_command(argv: list[str]) -> int:
    """`make verify-sync` and friends: run one command against the stack `make run` runs (started if needed)."""
    env = prepare(exec_env(local_env()), log=lambda *_: None)
    return subprocess.run(argv, env=env, cwd=ROOT).returncode


# ---- readiness ----------------------------------------------------------------------------------


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status: it is up)."""
    request = urllib.request.Request(url, headers={"User-Agent": READINESS_PROBE})
    try:
        with urllib.request.urlopen(request, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def worker_started(redis_url: str, since: datetime) -> bool:
    """Whether an RQ worker registered itself with Redis after `since` (this run's worker)."""
    try:
        workers = Worker.all(connection=queue.connect(redis_url))
    except Exception:  # noqa: BLE001 - Redis not answering is "not yet"
        return False
    return any(w.birth_date and w.birth_date >= since for w in workers)


# The local Connect has been through its first cycle since `since`: it recorded the state a cycle
# ends in (IDLE, or why not: paused, the org unreachable — not POLLING_DB_CHANGES, which a cycle
# passes through before its reads), or read every mapping (a restart finds the state it left, IDLE).
# On a fresh database that first cycle reads every record once (tens of seconds): a case filed
# before it ends would wait without a word.
CONNECT_CYCLED = """
SELECT coalesce((SELECT updated_at >= %(since)s AND state <> 'POLLING_DB_CHANGES'
                   FROM {s}.connection_state WHERE id = 1), false)
    OR coalesce((SELECT bool_and(coalesce(last_poll_at >= %(since)s, false)) FROM {s}.mapping_state), false)
       AS cycled
"""


def connect_cycled(database_url: str, since: datetime) -> bool:
    """Whether the local Connect finished a cycle since `since` (its tables may not exist yet)."""
    try:
        with db.connect(database_url) as conn:
            return conn.execute(sql.SQL(CONNECT_CYCLED).format(s=sql.Identifier(connect_state.SCHEMA)),
                                {"since": since}).fetchone()["cycled"]
    except psycopg.Error:
        return False


def readiness(env: dict, since: datetime) -> dict:
    """Each part the banner waits for, and how to tell that it answers."""
    return {
        "web": lambda: answers(f"http://127.0.0.1:{env['PORT']}/healthz"),
        "local org": lambda: answers(env["LOCAL_ORG_URL"] + ORG_PROBE),
        "worker": lambda: worker_started(env["REDIS_URL"], since),
        "local Connect": lambda: connect_cycled(env["DATABASE_URL"], since),
    }


def wait_until_ready(checks: dict, timeout: float = READY_TIMEOUT, interval: float = 0.2) -> list[str]:
    """Poll every check until all pass or `timeout` runs out; return the names of those that never passed."""
    waiting = dict(checks)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting = {name: check for name, check in waiting.items() if not check()}
        if waiting:
            time.sleep(interval)
    return list(waiting)


def after_org(argv: list[str]) -> int:
    """`python -m standins.run after-org COMMAND…`: wait until the local org answers, then become COMMAND."""
    url = os.environ.get("LOCAL_ORG_URL", "") + ORG_PROBE
    wait_until_ready({"local org": lambda: answers(url)})  # past the timeout, COMMAND reports what it finds
    os.execvp(argv[0], argv)


# ---- the processes ------------------------------------------------------------------------------

# The name of the banner's message (it crosses honcho's queue, so a string): printed as it is, unprefixed.
BANNER = "\x00banner"


class _Printer(Printer):
    """honcho's printer, which also prints the banner: unprefixed, in one piece, between two process lines."""

    def write(self, message):
        if message.name == BANNER:
            print(message.data, file=self.output, flush=True)
        else:
            super().write(message)


class Stack(Manager):
    """honcho's Manager for Procfile.local, which prints the banner once every process is ready (readiness()).

    The wait runs in a thread started once honcho has forked its processes (a thread alive during a
    fork could leave a lock held in the child), and the banner goes through honcho's own queue and
    printer, so it is never cut by another process's line.
    """

    def __init__(self, env: dict, shown: list[str]):
        super().__init__(printer=_Printer(sys.stdout))
        self.env, self.shown, self.since = env, shown, datetime.now(UTC)

    def _start(self):  # honcho 2.0's Manager.loop() starts the processes here
        super()._start()
        threading.Thread(target=self._announce, daemon=True).start()

    def _announce(self) -> None:
        not_ready = wait_until_ready(readiness(self.env, self.since))
        self.events.put(Message(type="line", data=banner(self.env, self.shown, not_ready), time=datetime.now(),
                                name=BANNER, colour=None))


def command_for(name: str, command: str) -> str:
    """The Procfile command as run here: a process of AFTER_ORG first waits for the org (then execs itself)."""
    if name in AFTER_ORG:
        return f"{shlex.quote(sys.executable)} -m standins.run after-org {command}"
    return command


def main(argv=None) -> int:
    """Prepare everything, then run the local Procfile until Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["exec"]:
        return run_command(argv[1:])
    if argv[:1] == ["after-org"]:
        return after_org(argv[1:])
    env = prepare(local_env())
    manager = Stack(env, demo_logins(env))
    for name, command in parse_procfile(PROCFILE.read_text()).processes.items():
        manager.add_process(name, command_for(name, command), env=env, cwd=str(ROOT))
    record_run(env)
    try:
        manager.loop()
    finally:
        RUN_FILE.unlink(missing_ok=True)
    # Ctrl-C (130) or a SIGTERM (143) is how a developer stops it: not an error.
    return 0 if manager.returncode in (None, 0, 130, 143) else manager.returncode


if __name__ == "__main__":
    sys.exit(main())
