"""Database access for requests: a per-process pool, a statement timeout under the router's limit."""

from contextlib import contextmanager

from flask import current_app, g

from core import db


def _options(cfg) -> str:
    # A runaway query is cancelled by Postgres before the router's 30 s cut-off; see web/errors.py.
    return f"-c statement_timeout={cfg.statement_timeout_ms}"


@contextmanager
def connection():
    """A pooled connection to the primary database for this request."""
    cfg = current_app.config["APP"]
    with db.connection(cfg.database_url, size=cfg.db_pool_size, options=_options(cfg)) as conn:
        yield conn


def request_connection():
    """The request's own primary connection: borrowed on first use, returned when the request ends.

    The session check (web/identity.py) runs on every customer request, and the page's reads
    follow it: on one connection they cost one checkout instead of two. Only for work that ends
    with the request — never for a streamed response, which outlives it (web/streams.py).
    """
    held = g.get("_db_held")
    if held is None:
        borrowed = connection()
        held = borrowed.__enter__()
        g._db_held, g._db_borrowed = held, borrowed
    return held


def _return_held(exc):
    borrowed = g.pop("_db_borrowed", None)
    g.pop("_db_held", None)
    if borrowed is not None:
        borrowed.__exit__(type(exc) if exc else None, exc, None)


@contextmanager
def read_connection(*, shared: bool = False):
    """A connection for reads: the follower when READ_DATABASE_URL is set, else the primary.

    `shared`: without a follower, reuse the request's primary connection if it holds one (see
    `request_connection`); for reads that end with the request.
    """
    cfg = current_app.config["APP"]
    if shared and not cfg.read_database_url and g.get("_db_held") is not None:
        yield g._db_held
        return
    url = cfg.read_database_url or cfg.database_url
    with db.connection(url, size=cfg.db_pool_size, name="follower", options=_options(cfg)) as conn:
        yield conn


def init_app(app):
    """Nothing opens at import or in the master process: pools open on first use, after fork."""
    app.extensions["database"] = {"connection": connection, "read_connection": read_connection}
    app.teardown_request(_return_held)
