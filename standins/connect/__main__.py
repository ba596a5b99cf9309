"""`python -m standins.connect`: the local Connect, running until stopped (SIGTERM or Ctrl-C).

With arguments it is the operations command instead (`python -m standins.connect pause`, …:
standins/connect/commands.py), named like the Heroku CLI plugin's `heroku connect:pause`.

Push is woken at once by the trigger log's NOTIFY, with a fallback poll; pull reads each mapping when
it is due (standins/connect/pull.py: its sf_polling_seconds under CONNECT_PLAN's rules, divided by
LOCAL_CONNECT_TIME_SCALE, which `make run` sets so reads come every few seconds). Heroku Connect's
writes go on NOTIFY but at most every 10 s, else every 2 min.
Neither the org nor Postgres going away stops it: it backs off, keeps every change, and carries on
when they are back (`make run` stops the whole stack when one process exits).
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
from standins.connect import operations, pull, state
from standins.connect.engine import Engine, OrgUnauthorized, OrgUnavailable

log = logging.getLogger("standins.connect")
MAX_BACKOFF = 60.0
# A push moves the connection IDLE → POLLING_DB_CHANGES → IDLE: no news beyond the push's own line.
ROUTINE_STATES = {"IDLE", "POLLING_DB_CHANGES"}


# Served by Connect's partial index on (state, table_name) WHERE state is NEW or PENDING.
CHANGES_WAITING = "SELECT EXISTS (SELECT 1 FROM {s}._trigger_log WHERE state = {new}) AS waiting"


class AnotherEngine(Exception):
    """Another engine holds the lock for this database."""


def _seconds(name, default):
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise config.ConfigError(f"{name} must be a number of seconds; got {raw!r}") from None
    if value <= 0:
        raise config.ConfigError(f"{name} must be positive; got {raw!r}")
    return value


def _backoff(previous: float) -> float:
    """1 s, doubling, at most MAX_BACKOFF."""
    return min(MAX_BACKOFF, max(1.0, previous * 2))


class Runner:
    """The engine's loop, one `cycle()` at a time: operations, then push and pull; faults become waits."""

    def __init__(self, engine: Engine, *, push_every: float = 1.0, clock=time.monotonic, on_connect=None):
        self.engine = engine
        self.push_every, self.clock = push_every, clock
        # After a reconnect: what the engine's new connection must set up again (pull's LISTEN).
        self.on_connect = on_connect
        self.listener = None
        self.provisioned, self.backoff, self.next_pull = False, 0.0, 0.0
        self.db_down_since = None
        self.state_name = None  # the state this engine last recorded (None: not yet)
        self.stopping = ()  # run() hands its stop flag here: non-empty once SIGTERM or Ctrl-C arrived

    @property
    def conn(self):
        return self.engine.conn

    # ---- the database --------------------------------------------------------------------------

    def listen(self) -> None:
        """Take the one-engine lock and LISTEN for the trigger log's NOTIFY; put back stale claims."""
        url = self.engine.database_url
        listener = psycopg.connect(url, autocommit=True)
        if not listener.execute(state.TRY_ENGINE_LOCK, (state.ENGINE_LOCK,)).fetchone()[0]:
            listener.close()
            raise AnotherEngine("another local Connect engine is running on this database")
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(connect.notify_channel(self.engine.schema))))
        self.listener = listener
        released = self.engine.release_stale_claims()
        if released:
            log.info("re-queued %s change(s) claimed but not confirmed (a previous engine, or a lost database "
                     "connection)", released)

    def _database_lost(self, exc) -> float:
        """Note the outage (one line when it starts), back off, reconnect on the next cycle."""
        self.backoff = _backoff(self.backoff)
        if self.db_down_since is None:
            self.db_down_since = time.time()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning(operations.logfmt("database_unavailable", error=reason, retry_in=f"{self.backoff:.0f}s"))
        else:
            log.warning("database still unavailable; retrying in %.0f s (changes stay in the trigger log)",
                        self.backoff)
        return self.backoff

    def _reconnect(self) -> None:
        """Open new connections; record DB_UNAVAILABLE for the outage now that it can be written."""
        for old in (self.listener, self.engine.conn):
            try:
                old.close()
            except (psycopg.Error, AttributeError):
                pass
        self.engine.reconnect()
        if self.on_connect is not None:
            self.on_connect()
        self.listen()
        down_for = time.time() - self.db_down_since
        self.db_down_since = None
        self.set_state("DB_UNAVAILABLE", f"database unavailable for {down_for:.0f} s; reconnected")
        log.info("database unavailable for %.0f s... reconnected; carrying on", down_for)

    # ---- states --------------------------------------------------------------------------------

    def set_state(self, name: str, detail: str | None = None) -> None:
        """Record the connection's state; log a line when it changed.

        IDLE ↔ POLLING_DB_CHANGES is every push's own rhythm (its hop line says what was sent):
        DEBUG, so the terminal shows one line per hop. Other changes (errors, pauses, recovery) are INFO.
        """
        before = self.state_name
        if state.set_connection_state(self.conn, name, detail):
            self.state_name = name
            routine = {before, name} <= ROUTINE_STATES and not detail
            log.log(logging.DEBUG if routine else logging.INFO,
                    operations.logfmt("connection_state", state=name, detail=detail))

    def unauthorized(self, reason: str) -> None:
        """UNAUTHORIZED until re-authorized: no login attempts, nothing lost."""
        state.set_switch(self.conn, "authorized", False)
        self.engine.log_out()
        self.set_state("UNAUTHORIZED", f"{reason}. {operations.UNAUTHORIZED_DETAIL}")

    def _held(self) -> bool:
        """Paused, in maintenance or unauthorized: the connection does nothing but answer operations."""
        held = operations.held_state(state.connection(self.conn))
        if held:
            self.set_state(*held)  # e.g. after a restart: "engine stopped" becomes the pause's own detail
        return held is not None

    # ---- one cycle -----------------------------------------------------------------------------

    def cycle(self) -> float:
        """Answer operations, then push and pull unless held; return how long to wait before the next cycle."""
        try:
            return self._cycle()
        except psycopg.OperationalError as exc:
            return self._database_lost(exc)

    def _cycle(self) -> float:
        try:
            if self.db_down_since is not None:
                self._reconnect()
                self.backoff = 0.0
                return self.push_every
            operations.answer_waiting(self)
            if self._held():
                return self.push_every
            if not self.provisioned:
                self.engine.provision()
                self.provisioned = True
            if not pull.stopped(self.engine):  # TOO_MANY_ROWS stops the sync: changes wait in the trigger log
                self._push()
            polled = self._pull()
            self.set_state(polled.state, polled.detail)
            self.backoff = 0.0
        except OrgUnauthorized as exc:
            self.unauthorized(str(exc))
            return self.push_every
        except OrgUnavailable as exc:
            if self.stopping:
                # `make run` stops the org with the engine: the org going first is the stop, not a fault
                # (the changes are still queued, for the next start).
                log.debug("%s while stopping; changes stay queued", exc)
                return self.push_every
            self.backoff = _backoff(self.backoff)
            log.warning("%s; changes stay queued, retrying in %.0f s", exc, self.backoff)
            self.set_state("SYSTEM_ERROR", str(exc))
            return self.backoff
        return max(0.05, min(self.push_every, self.next_pull - self.clock()))

    def _push(self) -> None:
        """Send everything waiting; POLLING_DB_CHANGES while there is something to send (a pause is refused then)."""
        waiting = self.conn.execute(sql.SQL(CHANGES_WAITING).format(
            s=sql.Identifier(self.engine.schema), new=sql.Literal(connect.LOG_NEW))).fetchone()["waiting"]
        if waiting:
            self.set_state("POLLING_DB_CHANGES")
        while self.engine.push_once():
            pass

    def _pull(self) -> "pull.Polled":
        """Read the mappings that are due (standins/connect/pull.py); note when the next one is."""
        polled = pull.poll_due(self.engine, datetime.now(UTC))
        self.next_pull = self.clock() + polled.wait
        return polled

    def wait(self, seconds: float, stopping) -> None:
        """Sleep until a NOTIFY, the timeout, or a stop; without a database, just the timeout."""
        if self.db_down_since is None and self.listener is not None:
            try:
                for _ in self.listener.notifies(timeout=seconds, stop_after=1):
                    pass
                return
            except psycopg.OperationalError as exc:
                seconds = self._database_lost(exc)
        end = time.monotonic() + seconds
        while not stopping and time.monotonic() < end:
            time.sleep(0.1)


def run() -> int:
    """Sync until told to stop."""
    logs.setup()
    cfg = config.load()
    push_every = _seconds("LOCAL_CONNECT_PUSH_SECONDS", 1.0)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))

    engine = Engine(cfg.database_url, cfg.connect_schema, lambda: salesforce.connect(cfg.salesforce))
    reader = pull.start(engine, cfg)
    polls = sorted({reader.interval(m) for m in engine.mappings.values()})
    log.info("local Connect started: %d mappings (%s), each read every %s; changes sent as the trigger log "
             "notifies. The first read compares every record, then only changes show here",
             len(engine.mappings), ", ".join(engine.mappings), "–".join(f"{p:g} s" for p in polls))
    runner = Runner(engine, push_every=push_every, on_connect=lambda: pull.start(engine, cfg))
    runner.stopping = stopping
    try:
        runner.listen()
        while not stopping:
            runner.wait(runner.cycle(), stopping)
    except AnotherEngine as exc:
        log.error("%s; exiting", exc)
        return 1
    try:
        runner.set_state("PAUSED", "engine stopped")
    except psycopg.OperationalError:
        pass
    log.info("local Connect stopped")
    return 0


def main(argv=None) -> int:
    """The engine without arguments; an operations command with them."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        from standins.connect import commands  # the engine process never needs the command's code

        return commands.main(argv)
    return run()


if __name__ == "__main__":
    sys.exit(main())
