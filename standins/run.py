"""`make run`: the whole app on one machine, the way Heroku runs it, with local stand-ins.

1. Reads `.env` (writing a fresh SECRET_KEY and operator login into it the first time; 0600).
2. Starts the embedded Postgres and Redis unless DATABASE_URL / REDIS_URL are set.
3. Builds the Connect schema as Connect would, migrates the app schema, loads demo data once.
4. Runs every process of Procfile.local (web, worker, stand-ins) with honcho, like `heroku local`.
It prints where everything is (portal, operator pages with their login, the local org, the docs)
and the demo logins with the size of each account. Ctrl-C stops the processes, then Redis, then
Postgres: nothing is left running.

While it runs, the URLs it chose (database, Redis, the local org, the web port) are in
`.data/run.json`: `make verify-sync` (`python -m standins.run exec …`) runs its command against them.
"""

import json
import os
import secrets
import subprocess
import sys

from honcho.environ import parse_procfile
from honcho.manager import Manager
from psycopg import sql

from core import config, db, logins, queue, sync_sampler
from core.migrate import migrate
from core.paths import ROOT
from standins import demo_data, services
from standins.provision import provision

ENV_FILE = ROOT / ".env"
PROCFILE = ROOT / "Procfile.local"
DATABASE_NAME = "connectapp"
DEFAULT_SCALE = {"accounts": 1_000, "orders": 10_000}
LOCAL_CONNECT_INFO = "standins.connect.info.LocalConnectInfo"
# What a running `make run` records for the commands run beside it (`exec`).
RUN_FILE = services.DATA_DIR / "run.json"
RECORDED = ("DATABASE_URL", "REDIS_URL", "LOCAL_ORG_URL", "PORT", "CONNECT_SCHEMA", "APP_SCHEMA")


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
        provision(conn, cfg.connect_schema, log=log)
        migrate(conn, cfg.app_schema, cfg.connect_schema, log=log)
        if not demo_data.loaded(conn, cfg.app_schema):
            log("loading demo data (once) ...")
            demo_data.load(conn, schema=cfg.connect_schema, app_schema=cfg.app_schema, log=log, **DEFAULT_SCALE)
    # The sync health console's chart: one sample a minute, taken by the worker.
    sync_sampler.schedule(queue.connect(cfg.redis_url))
    return env


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


def banner(env: dict, login_shown: list[str]) -> str:
    """What `make run` prints once everything is up: where each part is, and how to log in to it."""
    app = f"http://localhost:{env['PORT']}"
    lines = [
        "",
        f"  Portal (customers)     {app}/login",
        f"  Operator pages         {app}/ops/sync   {app}/ops/invoicing   {app}/ops/exports",
    ]
    if env.get("OPS_USERNAME"):
        lines.append(" " * 25 + f"login {env['OPS_USERNAME']} / {env.get('OPS_PASSWORD', '')}   (from .env)")
    lines += [
        f"  Local Salesforce org   {env['LOCAL_ORG_URL']}   (browse and edit records; the local Connect syncs them)",
        f"  API description        {app}/api/v1/openapi.json",
        f"  Docs                   {ROOT / 'docs' / 'README.md'}   (start here; deploying: docs/deploy.md)",
        "",
        *("  " + line for line in login_shown),
        "",
        "  Ctrl-C stops everything.   In a second terminal: make verify-sync, make manage ARGS=doctor",
        "",
    ]
    return "\n".join(lines)


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


def main(argv=None) -> int:
    """Prepare everything, then run the local Procfile until Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["exec"]:
        return run_command(argv[1:])
    env = prepare(local_env())
    shown = banner(env, demo_logins(env))
    manager = Manager()
    for name, command in parse_procfile(PROCFILE.read_text()).processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    print(shown, flush=True)
    record_run(env)
    try:
        manager.loop()
    finally:
        RUN_FILE.unlink(missing_ok=True)
    # Ctrl-C (130) or a SIGTERM (143) is how a developer stops it: not an error.
    return 0 if manager.returncode in (None, 0, 130, 143) else manager.returncode


if __name__ == "__main__":
    sys.exit(main())
