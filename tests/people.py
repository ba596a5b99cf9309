"""Who is asking, in tests: a logged-in customer (signed session cookie) or an operator (HTTP Basic)."""

import base64

OPS_USER, OPS_PASSWORD = "ops", "s3cret-enough"


def log_in(client, *, user_id: int = 7, account_sfid: str = "001000000000000001") -> None:
    """Give the client a customer session, as the portal's login would."""
    with client.session_transaction() as session:
        session["customer"] = {"user_id": user_id, "contact_sfid": "003000000000000001", "account_sfid": account_sfid}


def ops_headers() -> dict:
    """The operator's Authorization header (the test config turns ops pages on with these credentials)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{OPS_USER}:{OPS_PASSWORD}".encode()).decode()}


def as_operator(client):
    """The test client, sending the operator's HTTP Basic credentials on every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = ops_headers()["Authorization"]
    return client
