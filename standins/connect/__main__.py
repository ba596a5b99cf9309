"""`python -m standins.connect`: the local Heroku Connect (Procfile.local's `connect:` line).

The org: SF_* credentials when set (a real Developer Edition org), else LOCAL_ORG_URL (default
http://127.0.0.1:5100, the local org). Timings: CONNECT_POLL_SECONDS (pull, default 5 s locally),
CONNECT_DB_POLL_SECONDS, CONNECT_NOTIFY_MIN_SECONDS, CONNECT_CLAIM_LIMIT, CONNECT_MAX_BACKOFF_SECONDS.
"""

import os
import signal
import sys
import time

from core import config, salesforce
from standins.connect.engine import Engine, Settings

DEFAULT_LOCAL_ORG = "http://127.0.0.1:5100"
DEFAULT_LOCAL_POLL_SECONDS = "5"


def _org(env):
    """A factory for the org client, retrying while the org is still starting."""

    def factory():
        for attempt in range(60):
            try:
                return salesforce.client(env)
            except Exception as exc:  # the org process may not listen yet (make run starts all at once)
                if attempt == 59:
                    raise
                print(f"local connect: waiting for the org ({exc.__class__.__name__})", flush=True)
                time.sleep(1)

    return factory


def main() -> int:
    """Run the engine until SIGTERM / Ctrl-C."""
    cfg = config.load()
    env = dict(os.environ)
    real_org = env.get("SF_USERNAME") or env.get("SF_SESSION_ID")
    if not real_org:
        env.setdefault("LOCAL_ORG_URL", DEFAULT_LOCAL_ORG)
        env.setdefault("CONNECT_POLL_SECONDS", DEFAULT_LOCAL_POLL_SECONDS)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    engine = Engine(cfg.database_url, cfg.connect_schema, _org(env), Settings.from_env(env),
                    log=lambda m: print(m, flush=True))
    print(f"local connect: {salesforce.describe_target(env)}", flush=True)
    try:
        engine.run(stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
