"""`make run`: the whole app on one machine, the way Heroku runs it, with local stand-ins.

1. Reads `.env` (writing one with a fresh SECRET_KEY the first time).
2. Starts the embedded Postgres and Redis unless DATABASE_URL / REDIS_URL are set.
3. Builds the Connect schema as Connect would, migrates the app schema, loads demo data once.
4. Runs every process of Procfile.local (web, worker, stand-ins) with honcho, like `heroku local`.
Ctrl-C stops the processes, then Redis, then Postgres: nothing is left running.
"""

import os
import secrets
import subprocess
import sys

from honcho.environ import parse_procfile
from honcho.manager import Manager

from commands.logins import demo_lines
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


def read_env_file(path=ENV_FILE) -> dict:
    """KEY=VALUE lines of .env, creating it with a random SECRET_KEY and operator password the first time."""
    if not path.exists():
        path.write_text(
            "# Local settings for make run (git-ignored). See .env.example for every variable.\n"
            f"SECRET_KEY={secrets.token_hex(32)}\n"
            "# The operator pages (/ops/sync, /ops/invoicing, /ops/exports) take this HTTP Basic login.\n"
            f"OPS_USERNAME=ops\nOPS_PASSWORD={secrets.token_urlsafe(18)}\n"
        )
        path.chmod(0o600)
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
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


def demo_logins(env: dict) -> list[str]:
    """Create (or reset) the demo portal logins and return the lines that show them."""
    cfg = config.load(env)
    with db.connect(cfg.database_url) as conn:
        return demo_lines(logins.create_demo_users(conn, cfg.connect_schema, cfg.app_schema))


def local_env() -> dict:
    """The environment every local process gets: .env, then the shell's, then local defaults."""
    env = {**read_env_file(), **os.environ}
    env.setdefault("APP_ENV", "development")
    env.setdefault("PORT", "5000")
    env.setdefault("WEB_CONCURRENCY", "2")
    env.setdefault("LOCAL_ORG_PORT", "5100")
    env.setdefault("LOCAL_ORG_URL", f"http://127.0.0.1:{env['LOCAL_ORG_PORT']}")
    # The sync console reads the local Connect's state from its tables; on Heroku it cannot know it.
    env.setdefault("CONNECT_INFO", LOCAL_CONNECT_INFO)
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


def run_command(argv: list[str]) -> int:
    """`make verify-sync` and friends: run one command against the local stack (started if needed)."""
    env = prepare(local_env(), log=lambda *_: None)
    return subprocess.run(argv, env=env, cwd=ROOT).returncode


def main(argv=None) -> int:
    """Prepare everything, then run the local Procfile until Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["exec"]:
        return run_command(argv[1:])
    env = prepare(local_env())
    logins_shown = "\n".join("  " + line for line in demo_logins(env))
    manager = Manager()
    for name, command in parse_procfile(PROCFILE.read_text()).processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    print(f"\n  The app: http://localhost:{env['PORT']}   The local Salesforce org: {env['LOCAL_ORG_URL']}"
          "   (Ctrl-C stops everything)\n", flush=True)
    print(f"{logins_shown}\n  Portal: http://localhost:{env['PORT']}/login\n", flush=True)
    if env.get("OPS_USERNAME"):
        print(f"  Operator pages: http://localhost:{env['PORT']}/ops/sync  ({env['OPS_USERNAME']} / the "
              "OPS_PASSWORD in .env)\n", flush=True)
    manager.loop()
    # Ctrl-C (130) or a SIGTERM (143) is how a developer stops it: not an error.
    return 0 if manager.returncode in (None, 0, 130, 143) else manager.returncode


if __name__ == "__main__":
    sys.exit(main())
