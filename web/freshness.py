"""Reads from the follower, except right after the user's own write (read-your-writes).

A Heroku follower replays the primary's WAL a little behind it. Reading from it spreads the load,
but a customer who just filed a case must see it on the next page. So after a write the session
gets a short-lived marker holding the primary's WAL position (`pg_current_wal_lsn()`); while it
is there, a read first asks the follower how far it has replayed (`pg_last_wal_replay_lsn()`) and
uses the primary until the follower is past the write. The marker ends when the follower has
caught up, or after FRESH_SECONDS whatever happens, so a broken follower cannot pin every read
to the primary.
"""

import time
from contextlib import contextmanager

from flask import current_app, g, session

from web import database

FRESH_SECONDS = 15
MARKER = "wrote"

CURRENT_LSN = "SELECT pg_current_wal_lsn()::text AS lsn"
# NULL on a server that is not replaying (a primary, or a follower promoted): then it proves nothing.
REPLAYED = "SELECT pg_last_wal_replay_lsn() >= %(lsn)s::pg_lsn AS caught_up"


def remember_write(conn) -> None:
    """After a committed write on `conn` (the primary): read from the primary until the follower has it."""
    if not current_app.config["APP"].read_database_url:
        return
    lsn = conn.execute(CURRENT_LSN).fetchone()["lsn"]
    session[MARKER] = {"lsn": lsn, "until": time.time() + FRESH_SECONDS}


def _follower_has(conn, marker: dict) -> bool:
    """True when the follower has replayed past the marker's WAL position."""
    row = conn.execute(REPLAYED, {"lsn": marker["lsn"]}).fetchone()
    return bool(row and row["caught_up"])


@contextmanager
def reading():
    """A connection for this request's reads: the follower, or the primary while it lags behind our write."""
    marker = session.get(MARKER)
    if marker and (not isinstance(marker, dict) or marker.get("until", 0) < time.time()):
        session.pop(MARKER, None)
        marker = None
    with database.read_connection(shared=True) as follower:
        if marker is None or not current_app.config["APP"].read_database_url:
            g.read_from = "follower" if current_app.config["APP"].read_database_url else "primary"
            yield follower
            return
        if _follower_has(follower, marker):
            session.pop(MARKER, None)
            g.read_from = "follower"
            yield follower
            return
    g.read_from = "primary"
    with database.connection() as primary:
        yield primary
