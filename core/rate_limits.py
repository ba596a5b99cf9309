"""Attempt counters for rate limits: in Redis, shared by every dyno, and in Postgres while Redis is down.

Each attempt increments a counter named for (action, what is limited); the counter's window opens
at the first attempt and closes `seconds` later (its expiry), so there is no clock boundary at which
an attacker gets a fresh allowance right after spending one.

Redis is the store: one round trip, and the keys expire by themselves. When Redis cannot be reached
the same counters are kept in an unlogged table of the app's schema (migration 0102), with a
warning in the log: logging in keeps working during a Redis outage, and keeps being limited,
instead of answering 500 to everyone. The two stores do not share counts: an outage starts fresh
windows, which at worst doubles one window's allowance.
"""

import hashlib
import logging
from dataclasses import dataclass

import redis
from psycopg import sql

from core import queue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most `count` attempts per `seconds` for one key."""

    count: int
    seconds: int


def key(name: str, value: str) -> str:
    """The counter's name for one value (hashed: emails and addresses are not stored in the clear)."""
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}"


# Open the window at the first attempt, or a fresh one once it has closed; count in it.
PG_HIT = """
INSERT INTO {app}.rate_limit_hits AS r (key, count, window_ends)
VALUES (%(key)s, 1, now() + make_interval(secs => %(seconds)s))
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN r.window_ends <= now() THEN 1 ELSE r.count + 1 END,
    window_ends = CASE WHEN r.window_ends <= now() THEN excluded.window_ends ELSE r.window_ends END
RETURNING count, greatest(1, ceil(extract(epoch FROM r.window_ends - now())))::int AS ttl
"""
PG_PEEK = """
SELECT count, greatest(1, ceil(extract(epoch FROM window_ends - now())))::int AS ttl
FROM {app}.rate_limit_hits WHERE key = %(key)s AND window_ends > now()
"""
PG_PRUNE = "DELETE FROM {app}.rate_limit_hits WHERE window_ends <= now()"


class Counter:
    """Counts attempts in Redis at `redis_url`, or in Postgres through `connection()` when Redis is down."""

    def __init__(self, redis_url: str, connection, app_schema: str):
        # `connection()`: a context manager giving an autocommit connection with dict rows.
        self.redis_url = redis_url
        self.connection = connection
        self.app = sql.Identifier(app_schema)

    def hit(self, name: str, value: str, limit: Limit) -> int:
        """Count one attempt; 0 if allowed, else the seconds until the window ends."""
        k = key(name, value)
        try:
            count, ttl = self._redis_hit(k, limit)
        except redis.RedisError as exc:
            count, ttl = self._pg(PG_HIT, k, limit, exc)
        return max(int(ttl), 1) if count > limit.count else 0

    def blocked(self, name: str, value: str, limit: Limit) -> int:
        """Without counting: the seconds until the window ends if `value` is over the limit, else 0."""
        k = key(name, value)
        try:
            client = queue.client(self.redis_url)
            pipe = client.pipeline()
            pipe.get(k)
            pipe.ttl(k)
            count, ttl = pipe.execute()
            count = int(count or 0)
        except redis.RedisError as exc:
            count, ttl = self._pg(PG_PEEK, k, limit, exc)
        return max(int(ttl), 1) if count > limit.count else 0

    def _redis_hit(self, k: str, limit: Limit) -> tuple[int, int]:
        client = queue.client(self.redis_url)
        pipe = client.pipeline()
        pipe.set(k, 0, ex=limit.seconds, nx=True)
        pipe.incr(k)
        pipe.ttl(k)
        _, count, ttl = pipe.execute()
        return count, ttl

    def _pg(self, statement: str, k: str, limit: Limit, exc: Exception) -> tuple[int, int]:
        log.warning("rate limits: Redis unavailable (%s); counting in Postgres instead", type(exc).__name__)
        with self.connection() as conn:
            if statement is PG_HIT:
                conn.execute(sql.SQL(PG_PRUNE).format(app=self.app))
            row = conn.execute(sql.SQL(statement).format(app=self.app),
                               {"key": k, "seconds": limit.seconds}).fetchone()
        return (row["count"], row["ttl"]) if row else (0, 0)
