"""Reads from the follower, but the user's own fresh writes come from the primary until the follower has them.

The "follower" here is a second URL to the same test database, told apart by application_name:
that is enough to test which connection each read is routed to.
"""

import dataclasses
import time

import pytest
from flask import session as request_session
from psycopg.conninfo import make_conninfo

from tests import portal_rows
from tests.portal_rows import ACCOUNT_A, order_sfid
from web import create_app, freshness

ORDER = order_sfid(ACCOUNT_A, 3)


@pytest.fixture
def app(app_config, conn, redis):
    """The app with READ_DATABASE_URL pointing at a 'follower' (the same database, another name)."""
    follower = make_conninfo(app_config.database_url, application_name="follower")
    return create_app({"APP": dataclasses.replace(app_config, read_database_url=follower), "TESTING": True})


def _reads_from(client) -> str:
    """Which server a read in this client's session goes to."""
    with client.application.test_request_context():
        with client.session_transaction() as stored:
            request_session.update(stored)
        with freshness.reading() as conn:
            return conn.execute("SELECT current_setting('application_name') AS name").fetchone()["name"]


def _file_case(client):
    return client.post(f"/orders/{ORDER}/cases", data={"subject": "Late", "csrf_token": portal_rows.csrf(client)})


def test_reads_go_to_the_follower(client, ann):
    assert _reads_from(client) == "follower"


def test_after_a_write_reads_go_to_the_primary(client, ann):
    _file_case(client)
    assert _reads_from(client) != "follower"


def test_the_new_case_shows_right_after_filing_it(client, ann):
    page = client.get(_file_case(client).headers["Location"]).get_data(as_text=True)
    assert "Sending to Salesforce…" in page


def test_marker_holds_the_primarys_wal_position(client, ann):
    _file_case(client)
    with client.session_transaction() as session:
        marker = session[freshness.MARKER]
    assert "/" in marker["lsn"] and marker["until"] > time.time()


def test_reads_return_to_the_follower_once_it_has_replayed_the_write(client, ann, monkeypatch):
    _file_case(client)
    # A real follower answers with pg_last_wal_replay_lsn(); here the "follower" is the primary itself,
    # whose own WAL position is, by definition, past the write.
    monkeypatch.setattr(freshness, "REPLAYED", "SELECT pg_current_wal_lsn() >= %(lsn)s::pg_lsn AS caught_up")
    assert _reads_from(client) == "follower"


def test_reads_return_to_the_follower_when_the_marker_expires(client, ann):
    _file_case(client)
    with client.session_transaction() as session:
        session[freshness.MARKER] = {**session[freshness.MARKER], "until": time.time() - 1}
    assert _reads_from(client) == "follower"


def test_without_a_follower_no_marker_is_set(app_config, conn, redis, portal_world):
    client = create_app({"APP": app_config, "TESTING": True}).test_client()
    portal_rows.session_for(client, portal_rows.make_user(conn))
    _file_case(client)
    with client.session_transaction() as session:
        assert freshness.MARKER not in session
