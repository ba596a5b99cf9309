"""Test helpers for the local Connect: an engine on the test database and the local org."""

from core import connect
from standins.connect import state
from standins.connect.engine import Engine, Settings


def reset_state(conn):
    """Forget watermarks, states and API counts from earlier tests."""
    state.ensure(conn)
    conn.execute("TRUNCATE local_connect.connection_state, local_connect.mapping_state, local_connect.api_usage")


def make_engine(conn, local_org, sf_factory=None) -> Engine:
    """A started engine (described, provisioned, recovered) talking to the test org."""
    reset_state(conn)
    engine = Engine(conn.info.dsn, "salesforce", sf_factory or local_org.salesforce,
                    Settings(poll_seconds=0, db_poll_seconds=0.1, notify_min_seconds=0.0),
                    mappings=connect.mappings(), log=lambda *_: None)
    engine.start(conn)
    return engine
