"""Redis and RQ: URL handling for the three schemes Heroku and local runs use, and the queues.

- `redis://` — a plain server (local, Heroku CI in-dyno).
- `rediss://` — Heroku Key-Value Store: TLS with a self-signed certificate, so certificate
  checks must be off (`ssl_cert_reqs=None`), and only for this scheme.
- `unix://` — the embedded Redis that `make run` and `make test` start on a socket.
"""

import os
import threading
from urllib.parse import urlsplit

import redis
from rq import Queue
from rq.serializers import JSONSerializer

# Queue names, in the order a worker serves them.
QUEUES = ("default", "low")


def redis_kwargs(url: str) -> dict:
    """Extra connection arguments a URL's scheme needs."""
    if urlsplit(url).scheme == "rediss":
        # Heroku's Redis certificates are self-signed: verifying them would always fail.
        return {"ssl_cert_reqs": None}
    return {}


def connect(url: str) -> redis.Redis:
    """A Redis client for any of the three schemes."""
    return redis.Redis.from_url(url, **redis_kwargs(url))


_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def client(url: str) -> redis.Redis:
    """This process's shared client for `url`, created on first use (after any fork)."""
    key = (os.getpid(), url)
    with _lock:
        if key not in _clients:
            _clients[key] = connect(url)
        return _clients[key]


def queue(conn: redis.Redis, name: str = "default") -> Queue:
    """An RQ queue that stores jobs as JSON, never pickle."""
    return Queue(name, connection=conn, serializer=JSONSerializer)
