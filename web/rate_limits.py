"""Fixed-window rate limits in Redis, shared by every dyno and process.

Each attempt increments a counter named for (action, what is limited, window number) that expires
with its window. Login and password-reset requests are limited both per client address (one
machine trying many emails) and per email (many machines trying one account). A limit applies
whether or not the email has a login, so it reveals nothing.
"""

import hashlib
import time
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


def _key(name: str, value: str, window: int) -> str:
    """The Redis key counting attempts for one value in one window."""
    # Hash the value: emails are not kept in Redis in the clear.
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}:{window}"


def hit(name: str, value: str) -> int:
    """Count one attempt; return 0 if allowed, else the seconds until the window ends."""
    limit = LIMITS[name]
    now = int(time.time())
    window = now // limit.seconds
    client = queue.client(current_app.config["APP"].redis_url)
    pipe = client.pipeline()
    key = _key(name, value, window)
    pipe.incr(key)
    pipe.expire(key, limit.seconds + 1)
    count = pipe.execute()[0]
    if count > limit.count:
        return (window + 1) * limit.seconds - now
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
