"""The engine's loop: wake on the trigger-log NOTIFY (or a fallback poll), push, archive, pull.

One engine per Connect schema (a session advisory lock): two would each think the other's PENDING
rows were abandoned. At start-up it describes the mapped objects in the org, provisions the schema
from that describe and the mapping file (as Connect does when mappings are applied), and puts back
to NEW any trigger-log rows a dead engine left PENDING.
"""

import os
import time
from dataclasses import dataclass

from psycopg import sql

from core import connect, db
from standins.connect import pull, push, schema, state


class AlreadyRunning(RuntimeError):
    """Another engine holds this schema."""


@dataclass
class Settings:
    """Timings, all in seconds. Real Connect: push at most every 10 s on NOTIFY, every 2 min otherwise;
    pull every 600 s by default (2–60 min; at least 10 min on the demo plan)."""

    poll_seconds: float | None = None  # pull interval; None → each mapping's sf_polling_seconds
    db_poll_seconds: float = 1.0  # fallback trigger-log poll when no NOTIFY arrives
    notify_min_seconds: float = 0.2  # at most one push per this interval, however many NOTIFYs
    claim_limit: int = 2000  # trigger-log rows claimed per cycle
    max_backoff_seconds: float = 30.0

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        """Read CONNECT_* variables (seconds may be fractional)."""
        env = os.environ if env is None else env

        def number(name, default):
            raw = env.get(name, "").strip()
            return float(raw) if raw else default

        poll = env.get("CONNECT_POLL_SECONDS", "").strip()
        return cls(
            poll_seconds=float(poll) if poll else None,
            db_poll_seconds=number("CONNECT_DB_POLL_SECONDS", 1.0),
            notify_min_seconds=number("CONNECT_NOTIFY_MIN_SECONDS", 0.2),
            claim_limit=int(number("CONNECT_CLAIM_LIMIT", 2000)),
            max_backoff_seconds=number("CONNECT_MAX_BACKOFF_SECONDS", 30.0),
        )


class Engine:
    """A local Connect between one database schema and one org."""

    def __init__(self, database_url: str, connect_schema: str, sf_factory, settings: Settings | None = None,
                 mappings: dict | None = None, log=print):
        self.database_url = database_url
        self.schema = connect_schema
        self.sf_factory = sf_factory
        self.settings = settings or Settings()
        self.mappings = connect.mappings() if mappings is None else mappings
        self.log = log
        self.sf = None
        self.targets = {}
        self.next_pull = {}
        self.backoff = 0.0

    def start(self, conn) -> None:
        """Lock the schema, create the state tables, describe, provision, recover claimed rows."""
        got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", (f"local-connect:{self.schema}",))
        if not got.fetchone()["ok"]:
            raise AlreadyRunning(f"another local Connect is running on schema {self.schema}")
        state.ensure(conn)
        state.set_connection(conn, state.IDLE)
        self.sf = self.sf_factory()
        objects = schema.describe_all(self.sf, self.mappings)
        for name in self.mappings:
            state.count_calls(conn, name, 1)
        state.record_usage(conn, self.sf.api_usage)
        schema.provision_from_org(conn, self.schema, self.mappings, objects, log=self.log)
        self.targets = schema.targets(self.mappings, objects)
        recovered = push.recover(conn, self.schema)
        if recovered:
            self.log(f"local connect: {recovered} trigger-log row(s) left PENDING by a stopped engine are NEW again")

    def cycle(self, conn, *, pull_all: bool = False) -> dict:
        """Push everything waiting, then pull the mappings that are due."""
        done = {"pushed": self.push_all(conn)}
        done["pulled"] = self.pull_due(conn, pull_all=pull_all)
        state.set_connection(conn, state.IDLE)
        return done

    def push_all(self, conn) -> int:
        """Requeue, push until the trigger log is drained, archive; return log rows processed."""
        pushed = 0
        push.requeue(conn, self.schema)
        state.set_connection(conn, state.POLLING_DB_CHANGES)
        while True:
            counts = push.push(conn, self.sf, self.schema, self.targets, limit=self.settings.claim_limit)
            if not counts:
                break
            pushed += sum(counts.values())
        push.archive(conn, self.schema)
        return pushed

    def pull_due(self, conn, *, pull_all: bool = False) -> int:
        """Pull every mapping whose polling interval has passed (all of them with pull_all)."""
        pulled = 0
        now = time.monotonic()
        for name, target in self.targets.items():
            if pull_all or now >= self.next_pull.get(name, 0):
                pulled += pull.pull(conn, self.sf, self.schema, target)
                interval = self.settings.poll_seconds or target.mapping.polling_seconds
                self.next_pull[name] = time.monotonic() + interval
        return pulled

    def run(self, stop=lambda: False) -> None:
        """Serve until stop() is true: LISTEN for the trigger log, cycle, back off when the org is away."""
        with db.connect(self.database_url) as conn, db.connect(self.database_url) as listener:
            self.start(conn)
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(connect.notify_channel(self.schema))))
            self.log(f"local connect: syncing schema {self.schema} ({len(self.targets)} mappings)")
            while not stop():
                try:
                    self.cycle(conn)
                    self.backoff = 0.0
                except push.OrgUnavailable as exc:
                    # Changes stay queued (back to NEW); try again later, waiting longer each time.
                    self.backoff = min(self.settings.max_backoff_seconds, max(0.5, self.backoff * 2))
                    state.set_connection(conn, state.SYSTEM_ERROR, f"{exc} (retrying in {self.backoff:.1f} s)")
                    self.log(f"local connect: {exc}; retrying in {self.backoff:.1f} s")
                    time.sleep(self.backoff)
                    continue
                self._wait(listener)

    def _wait(self, listener) -> None:
        """Sleep until a NOTIFY (not before notify_min_seconds) or the fallback poll interval."""
        time.sleep(self.settings.notify_min_seconds)
        wait = max(0.0, self.settings.db_poll_seconds - self.settings.notify_min_seconds)
        for _ in listener.notifies(timeout=wait, stop_after=1):
            pass
        # Drain the NOTIFYs that piled up: one cycle handles every NEW row whatever woke it.
        for _ in listener.notifies(timeout=0):
            pass
