"""Rate limits on logging in, password resets and the operators' HTTP Basic, shared by every dyno.

Login and password-reset requests are limited both per client address (one machine trying many
emails) and per email (many machines trying one account). A limit applies whether or not the email
has a login, so it reveals nothing. Operators' pages count failed Basic credentials per client
address; past the limit every attempt from that address is refused until the window ends, right
credentials included, so guessing stops (per address only: a per-username limit would let anyone
lock the operators out). Counting is in core/rate_limits.py (Redis, or Postgres while Redis is down).

The client address is `request.remote_addr` as werkzeug's ProxyFix sets it from X-Forwarded-For,
trusting exactly `PROXY_HOPS` proxies (web/__init__.py): Heroku's router appends the address it saw
to whatever X-Forwarded-For the client sent, so only the rightmost entry is vouched for, and a
client sending its own header cannot pose as another address.
"""

from flask import current_app, request

from core.rate_limits import Counter, Limit
from web import database

LIMITS = {
    "login:ip": Limit(30, 300),
    "login:email": Limit(10, 300),
    "reset:ip": Limit(10, 3600),
    "reset:email": Limit(3, 3600),
    "ops:ip": Limit(20, 300),
}


def _counter() -> Counter:
    cfg = current_app.config["APP"]
    return Counter(cfg.redis_url, database.connection, cfg.app_schema)


def client_address() -> str:
    """The client's address, as the trusted proxies in front (Heroku's router) report it."""
    return request.remote_addr or "unknown"


def check(action: str, email: str) -> int:
    """Count an attempt at `action` by this client for `email`; seconds to wait if over a limit, else 0."""
    counter = _counter()
    waits = [counter.hit(f"{action}:ip", client_address(), LIMITS[f"{action}:ip"]),
             counter.hit(f"{action}:email", email or "-", LIMITS[f"{action}:email"])]
    return max(waits)


def operator_blocked() -> int:
    """Seconds this client must wait before trying operator credentials again (0: it may try)."""
    return _counter().blocked("ops:ip", client_address(), LIMITS["ops:ip"])


def operator_failed() -> int:
    """Count a failed operator login from this client; seconds to wait if that crossed the limit."""
    return _counter().hit("ops:ip", client_address(), LIMITS["ops:ip"])
