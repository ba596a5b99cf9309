"""Database access for requests: a per-process pool, a statement timeout under the router's limit."""

from contextlib import contextmanager

from flask import current_app

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


@contextmanager
def read_connection():
    """A connection for reads: the follower when READ_DATABASE_URL is set, else the primary."""
    cfg = current_app.config["APP"]
    url = cfg.read_database_url or cfg.database_url
    with db.connection(url, size=cfg.db_pool_size, name="follower", options=_options(cfg)) as conn:
        yield conn


def init_app(app):
    """Nothing opens at import or in the master process: pools open on first use, after fork."""
    app.extensions["database"] = {"connection": connection, "read_connection": read_connection}
