"""`python -m standins.connect`: the local Connect, running until stopped (SIGTERM or Ctrl-C).

Push is woken at once by the trigger log's NOTIFY, with a fallback poll; pull reads each mapping when
it is due (standins/connect/pull.py: its sf_polling_seconds under CONNECT_PLAN's rules, divided by
LOCAL_CONNECT_TIME_SCALE, which `make run` sets so reads come every few seconds). Heroku Connect's
writes go on NOTIFY but at most every 10 s, else every 2 min.
"""

import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from core import config, connect, logs, salesforce
from standins.connect import pull, state
from standins.connect.engine import Engine, OrgUnavailable

log = logging.getLogger("standins.connect")
# Only one engine may send a schema's changes: two would both claim and reorder them.
_ENGINE_LOCK = "local_connect:engine"


def _seconds(name, default):
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise config.ConfigError(f"{name} must be a number of seconds; got {raw!r}") from None
    if value <= 0:
        raise config.ConfigError(f"{name} must be positive; got {raw!r}")
    return value


def main() -> int:
    """Sync until told to stop."""
    logs.setup()
    cfg = config.load()
    push_every = _seconds("LOCAL_CONNECT_PUSH_SECONDS", 1.0)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))

    engine = Engine(cfg.database_url, cfg.connect_schema, lambda: salesforce.connect(cfg.salesforce))
    pull.start(engine, cfg)
    listener = psycopg.connect(cfg.database_url, autocommit=True)
    if not listener.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (_ENGINE_LOCK,)).fetchone()[0]:
        log.error("another local Connect engine is running on this database; exiting")
        return 1
    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(connect.notify_channel(cfg.connect_schema))))
    released = engine.release_stale_claims()
    if released:
        log.info("re-queued %s change(s) a previous engine had claimed but not confirmed", released)

    provisioned, backoff, next_pull = False, 0.0, 0.0
    while not stopping:
        try:
            if not provisioned:
                engine.provision()
                provisioned = True
            if not pull.stopped(engine):  # TOO_MANY_ROWS stops the sync: changes wait in the trigger log
                state.set_connection_state(engine.conn, "POLLING_DB_CHANGES")
                while not stopping and engine.push_once():
                    pass
            polled = pull.poll_due(engine, datetime.now(UTC))
            next_pull = time.monotonic() + polled.wait
            state.set_connection_state(engine.conn, polled.state, polled.detail)
            backoff = 0.0
        except OrgUnavailable as exc:
            backoff = min(60.0, max(1.0, backoff * 2))
            log.warning("%s; changes stay queued, retrying in %.0f s", exc, backoff)
            state.set_connection_state(engine.conn, "SYSTEM_ERROR", str(exc))
            _sleep(backoff, stopping)
            continue
        wait = max(0.05, min(push_every, next_pull - time.monotonic()))
        for _ in listener.notifies(timeout=wait, stop_after=1):
            pass
    state.set_connection_state(engine.conn, "PAUSED", "engine stopped")
    log.info("local Connect stopped")
    return 0


def _sleep(seconds, stopping):
    end = time.monotonic() + seconds
    while not stopping and time.monotonic() < end:
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
