"""Who is asking, in tests: a logged-in customer (signed session cookie) or an operator (HTTP Basic)."""

import base64

from core import db

OPS_USER, OPS_PASSWORD = "ops", "s3cret-enough"


def log_in(client, *, user_id: int = 7, account_sfid: str = "001000000000000001") -> None:
    """Give the client a customer session, as the portal's login would (with a login row: sessions are checked)."""
    with db.connect(client.application.config["APP"].database_url) as conn:
        version = conn.execute(_LOGIN_ROW, {"id": user_id}).fetchone()["session_version"]
    with client.session_transaction() as session:
        session["customer"] = {"user_id": user_id, "contact_sfid": "003000000000000001", "account_sfid": account_sfid,
                               "session_version": version}


# A bare login row with this id (sessions are checked against it); the test's tables are emptied afterwards.
_LOGIN_ROW = """
INSERT INTO app.portal_users (id, email, contact_external_id)
VALUES (%(id)s, 'user' || %(id)s || '@example.com', 'test-user-' || %(id)s)
ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email
RETURNING session_version
"""


def ops_headers() -> dict:
    """The operator's Authorization header (the test config turns ops pages on with these credentials)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{OPS_USER}:{OPS_PASSWORD}".encode()).decode()}


def as_operator(client):
    """The test client, sending the operator's HTTP Basic credentials on every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = ops_headers()["Authorization"]
    return client
