"""Writing as Heroku Connect writes: the one way tests and their row builders play Connect.

Connect's own sessions run with `xmlbinary = 'hex'`; the triggers on the Connect tables tell its
writes from the app's by that setting, so a write made this way is neither logged in the trigger
log nor marked PENDING: it reads as synced, the way rows copied from Salesforce do.
"""

from contextlib import contextmanager


@contextmanager
def as_connect(conn):
    """A transaction whose writes are Connect's (xmlbinary = hex): not logged, not marked PENDING."""
    with conn.transaction():
        conn.execute("SET LOCAL xmlbinary = 'hex'")
        yield conn
