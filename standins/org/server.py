"""The local org's process: its state (`Org`, kept in Postgres) and the app that answers as Salesforce would.

The app is put together from one module per concern, in standins/org/api/: what every call shares
(sessions, API-request counting, error shapes), login, REST data (sObjects, describe, changes),
SOQL queries, sObject Collections, and the Metadata API; plus the HTML view (standins/org/views.py).
"""

import base64
import hashlib
import hmac
import re
import secrets

from flask import Flask
from psycopg import sql

from core import db
from standins.org import limits, store, views
from standins.org.api import auth, collections, common, metadata, query, sobjects
from standins.org.api.common import ORG_ID


class Org:
    """The org's state in Postgres: records, API usage, settings (so a restart changes nothing)."""

    def __init__(self, database_url: str, schema: str = "local_org", daily_api_limit: int | None = None):
        self.database_url, self.schema = database_url, schema
        with db.connect(database_url) as conn:
            store.ensure_schema(conn, schema)
            if daily_api_limit is not None:
                limits.set_maximum(conn, schema, "DailyApiRequests", daily_api_limit, overwrite=False)
            self.secret = self.set_setting(conn, "session_secret", secrets.token_hex(32), overwrite=False)

    def connection(self):
        """A pooled connection to the org's database."""
        return db.connection(self.database_url, size=4, name="local-org")

    def set_setting(self, conn, key, value, *, overwrite=True) -> str:
        """Store a setting; return the value now in force."""
        s = sql.Identifier(self.schema)
        statement = store.SET_SETTING if overwrite else store.ADD_SETTING
        conn.execute(sql.SQL(statement).format(s), (key, value, value) if overwrite else (key, value))
        return conn.execute(sql.SQL(store.GET_SETTING).format(s), (key,)).fetchone()["value"]

    def session_id(self, username: str) -> str:
        """A session id the org can verify after a restart (signed, not stored)."""
        payload = base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")
        sig = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{ORG_ID}!{payload}.{sig}"

    def valid_session(self, token: str) -> bool:
        """Whether a bearer token is a session this org issued."""
        m = re.match(r"^" + ORG_ID + r"!([A-Za-z0-9_-]+)\.([0-9a-f]{32})$", token or "")
        if not m:
            return False
        expected = hmac.new(self.secret.encode(), m.group(1).encode(), hashlib.sha256).hexdigest()[:32]
        return hmac.compare_digest(expected, m.group(2))


def create_org_app(org: Org) -> Flask:
    """The Flask app that answers as Salesforce would."""
    app = Flask(__name__)
    app.json.sort_keys = False  # Salesforce answers keys in their order: attributes first, then the SELECT's
    app.config["ORG"] = org
    common.init_app(app, org)
    auth.init_app(app, org)
    sobjects.init_app(app, org)
    query.init_app(app, org)
    collections.init_app(app, org)
    metadata.init_app(app, org)
    views.init_app(app, org)
    return app
