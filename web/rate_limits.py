"""Rate limits in Redis, shared by every dyno and process.

Each attempt increments a counter named for (action, what is limited); the counter's window opens
at the first attempt and closes `seconds` later (its expiry), so there is no clock boundary at which
an attacker gets a fresh allowance right after spending one. Login and password-reset requests are
limited both per client address (one machine trying many emails) and per email (many machines
trying one account). A limit applies whether or not the email has a login, so it reveals nothing.
"""

import hashlib
from dataclasses import dataclass

from flask import current_app, request

from core import queue


@dataclass(frozen=True)
class Limit:
    """At most `count` attempts per `seconds` for one key."""

    count: int
    seconds: int


LIMITS = {
    "login:ip": Limit(30, 300),
    "login:email": Limit(10, 300),
    "reset:ip": Limit(10, 3600),
    "reset:email": Limit(3, 3600),
}


def _key(name: str, value: str) -> str:
    """The Redis key counting attempts for one value."""
    # Hash the value: emails are not kept in Redis in the clear.
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}"


def hit(name: str, value: str) -> int:
    """Count one attempt; return 0 if allowed, else the seconds until the window ends."""
    limit = LIMITS[name]
    client = queue.client(current_app.config["APP"].redis_url)
    key = _key(name, value)
    pipe = client.pipeline()
    # Open the window at the first attempt (SET NX with the expiry), then count in it.
    pipe.set(key, 0, ex=limit.seconds, nx=True)
    pipe.incr(key)
    pipe.ttl(key)
    _, count, ttl = pipe.execute()
    if count > limit.count:
        return max(int(ttl), 1)
    return 0


def client_address() -> str:
    """The client's address (gunicorn trusts the router's X-Forwarded-For: see gunicorn.conf.py)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    # Heroku's router appends the address it saw last: the rightmost entry is the one it vouches for.
    return forwarded.split(",")[-1].strip() if forwarded else (request.remote_addr or "unknown")


def check(action: str, email: str) -> int:
    """Count an attempt at `action` by this client for `email`; seconds to wait if over a limit, else 0."""
    waits = [hit(f"{action}:ip", client_address()), hit(f"{action}:email", email or "-")]
    return max(waits)
