"""Postgres connections: one lazily opened pool per process, never inherited across fork.

gunicorn (with preload) and RQ's work-horses fork after import. A pool opened before the fork
would share sockets between processes, so pools are created on first use and re-created when
the process id changes. Every pool checks a connection before lending it (`check_idle`), so a
restart of Postgres costs no failed request.
"""

import os
import select
import threading
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

_lock = threading.Lock()
_pools: dict[tuple[int, str], ConnectionPool] = {}


def connect(url: str, **kwargs) -> psycopg.Connection:
    """One connection outside any pool (release phase, CLI, tests): autocommit, dict rows."""
    return psycopg.connect(url, autocommit=True, row_factory=dict_row, **kwargs)


def compose(template: str, **parts) -> sql.Composed:
    """SQL text with `{name}` placeholders filled by quoted parts; every other brace is left as written.

    Plain-SQL files and DDL templates contain braces of their own (plpgsql, JSON), so only the
    names passed in are placeholders.
    """
    text = template.replace("{", "{{").replace("}", "}}")
    for name in parts:
        text = text.replace("{{" + name + "}}", "{" + name + "}")
    return sql.SQL(text).format(**parts)


def _configure(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    conn.row_factory = dict_row


def check_idle(conn: psycopg.Connection) -> None:
    """Raise if a pooled connection is dead, so the pool replaces it before a request uses it.

    An idle connection has nothing to read: the server speaks only when asked. When Postgres ends
    the session (a restart, a failover: "terminating connection due to administrator command")
    it sends that error and closes the socket, and the socket becomes readable. So a readable
    socket, checked without waiting (one system call), is the sign to run psycopg_pool's own check
    (one empty round trip) — which then fails and the pool opens a new connection; a quiet socket
    costs no round trip on every checkout.
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


def pool(url: str, *, size: int = 5, name: str = "primary", options: str = "") -> ConnectionPool:
    """The pool for `url` in this process, opened on first use."""
    key = (os.getpid(), url + options)
    found = _pools.get(key)
    if found is not None:
        return found
    with _lock:
        found = _pools.get(key)
        if found is None:
            kwargs = {"options": options} if options else {}
            found = ConnectionPool(
                url,
                min_size=1,
                max_size=size,
                kwargs=kwargs,
                configure=_configure,
                # A connection is checked as it is lent: after a Postgres restart or failover the
                # dead ones are replaced, so the next request succeeds.
                check=check_idle,
                name=f"{name}-{os.getpid()}",
                # Fail a request quickly (503) rather than queue it behind a dead database.
                timeout=5,
                open=True,
            )
            _pools[key] = found
    return found


@contextmanager
def connection(url: str, **pool_kwargs):
    """Borrow a connection from this process's pool for `url`."""
    with pool(url, **pool_kwargs).connection() as conn:
        yield conn


def close_all() -> None:
    """Close this process's pools (tests, shutdown)."""
    with _lock:
        for key in [k for k in _pools if k[0] == os.getpid()]:
            _pools.pop(key).close()
