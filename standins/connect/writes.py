"""Writing as Heroku Connect writes: the one place the local stand-ins set Connect's session setting.

Connect runs its own writes with `xmlbinary = 'hex'`; the app's sessions keep Postgres's default
('base64'). The triggers on the Connect tables tell the two apart by it: a write made this way is
neither logged in the trigger log (so it is never sent back to Salesforce) nor marked PENDING —
the status trigger keeps the `_hc_lastop` Connect set, or marks the row SYNCED. The local Connect's
write-back and polling, the demo data, the benchmarks and the tests that play Connect all write
through here; the app never does (tests/test_connect_in_one_place.py).
"""

from contextlib import contextmanager

from psycopg import sql

from core import connect

SET_CONNECT_SESSION = sql.SQL("SET LOCAL xmlbinary = {}").format(sql.Literal(connect.CONNECT_XMLBINARY))


def write_as_connect(conn_or_cursor) -> None:
    """Make the rest of the caller's transaction Connect's writes (SET LOCAL: it ends with the transaction)."""
    conn_or_cursor.execute(SET_CONNECT_SESSION)


@contextmanager
def as_connect(conn):
    """A transaction whose writes are Connect's: not logged, not marked PENDING."""
    with conn.transaction():
        write_as_connect(conn)
        yield conn
