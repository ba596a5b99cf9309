"""The local org's process: its state (`Org`, kept in Postgres) and the app that answers as Salesforce would.

The app is put together from one module per concern, in standins/org/api/: what every call shares
(sessions, API-request counting, error shapes), calls refused by a refusal switch (outage), login
(SOAP and OAuth), identity, discovery (versions and resources), REST data (sObjects, describe,
changes), layouts, files (blobs), user passwords, SOQL queries, the Tooling API, SOSL searches,
sObject Collections, composite requests, sObject Trees, the Metadata API, Bulk API 2.0 and 1.0, and
Apex REST; plus the HTML view (standins/org/views.py).
"""

import base64
import hashlib
import hmac
import json
import pathlib
import re
import secrets
import time
from contextlib import contextmanager, nullcontext

from flask import Flask, g, has_app_context
from psycopg import sql

from core import db
from standins.org import bulk_jobs, limits, standard, store, views
from standins.org.api import (
    apexrest,
    auth,
    blobs,
    bulk1,
    bulk2,
    collections,
    common,
    composite,
    discovery,
    identity,
    layouts,
    metadata,
    outage,
    passwords,
    query,
    search,
    sobjects,
    tooling,
    transport,
    tree,
)
from standins.org.api.common import ORG_ID

# A revoked token (session, refresh token, or spent authorization code) is a settings row under this prefix.
REVOKED_PREFIX = "revoked:"
ANY_REVOKED = "SELECT 1 FROM {}.settings WHERE key = ANY(%s)"


class Org:
    """The org's state in Postgres: records, API usage, settings (so a restart changes nothing)."""

    def __init__(self, database_url: str, schema: str = "local_org", daily_api_limit: int | None = None):
        self.database_url, self.schema = database_url, schema
        with db.connect(database_url) as conn:
            store.ensure_schema(conn, schema)
            standard.ensure_records(conn, schema)
            bulk_jobs.ensure_schema(conn, schema)
            if daily_api_limit is not None:
                limits.set_maximum(conn, schema, "DailyApiRequests", daily_api_limit, overwrite=False)
            self.secret = self.set_setting(conn, "session_secret", secrets.token_hex(32), overwrite=False)

    def connection(self):
        """A pooled connection to the org's database; during `one_transaction()`, that one's connection.

        Every route opens its writes with `with org.connection() as conn, conn.transaction():`. Inside a
        composite request that hands back the composite's connection, already in a transaction, so each
        route's `conn.transaction()` becomes a savepoint in it and one rollback undoes every subrequest.
        """
        if has_app_context() and "org_connection" in g:
            return nullcontext(g.org_connection)
        return db.connection(self.database_url, size=4, name="local-org")

    @contextmanager
    def one_transaction(self):
        """Run the rest of this request, subrequests included, in one transaction; yield it (raise
        `psycopg.Rollback(tx)` to undo it all).

        The connection lives in flask.g, which a subrequest shares: Flask reuses the app context
        already pushed when a nested request to the same app starts (RequestContext.push).
        """
        with db.connection(self.database_url, size=4, name="local-org") as conn, conn.transaction() as tx:
            g.org_connection = conn
            try:
                yield tx
            finally:
                g.pop("org_connection")

    def set_setting(self, conn, key, value, *, overwrite=True) -> str:
        """Store a setting; return the value now in force."""
        s = sql.Identifier(self.schema)
        statement = store.SET_SETTING if overwrite else store.ADD_SETTING
        conn.execute(sql.SQL(statement).format(s), (key, value, value) if overwrite else (key, value))
        return conn.execute(sql.SQL(store.GET_SETTING).format(s), (key,)).fetchone()["value"]

    def sign(self, kind: str, claims: dict) -> str:
        """`claims` as text only this org can have written: base64 JSON and an HMAC of it, per kind of token."""
        payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(kind, payload)}"

    def verify(self, kind: str, text: str) -> dict | None:
        """The claims of a token `sign(kind, …)` made, or None for anything else."""
        m = re.match(r"^([A-Za-z0-9_-]+)\.([0-9a-f]{32})$", text or "")
        if not m or not hmac.compare_digest(self._mac(kind, m.group(1)), m.group(2)):
            return None
        claims = json.loads(base64.urlsafe_b64decode(m.group(1) + "=" * (-len(m.group(1)) % 4)))
        return claims if isinstance(claims, dict) else None

    def _mac(self, kind, payload):
        return hmac.new(self.secret.encode(), f"{kind}:{payload}".encode(), hashlib.sha256).hexdigest()[:32]

    def session_id(self, username: str, *, grant: str | None = None) -> str:
        """A new session id the org can verify after a restart (signed, not stored).

        Each session is distinct (issue time and a nonce), so one can be revoked alone; `grant` names
        the refresh token it was issued from, whose revocation ends it too.
        """
        claims = {"u": username, "t": int(time.time() * 1000), "n": secrets.token_urlsafe(9)}
        if grant:
            claims["g"] = grant
        return f"{ORG_ID}!{self.sign('session', claims)}"

    def session_claims(self, token: str, conn=None) -> dict | None:
        """The claims of a live session (`u` its username, `t` when it was issued), None if not one."""
        org_id, _, signed = (token or "").partition("!")
        claims = self.verify("session", signed) if org_id == ORG_ID else None
        if claims is None or self.revoked(claims["n"], claims.get("g"), conn=conn):
            return None
        return claims

    def valid_session(self, token: str, conn=None) -> bool:
        """Whether a bearer token is a live session this org issued (on `conn`, if the caller holds one)."""
        return self.session_claims(token, conn) is not None

    def revoked(self, *nonces, conn=None) -> bool:
        """Whether any of these tokens (by nonce) was revoked."""
        keys = [REVOKED_PREFIX + n for n in nonces if n]
        if conn is None:
            with self.connection() as conn:
                return self.revoked(*nonces, conn=conn)
        return conn.execute(sql.SQL(ANY_REVOKED).format(sql.Identifier(self.schema)), (keys,)).fetchone() is not None

    def revoke(self, nonce: str) -> bool:
        """Revoke a token for good (sessions, refresh tokens, used authorization codes); False if it already was."""
        with self.connection() as conn:
            cur = conn.execute(sql.SQL(store.ADD_SETTING).format(sql.Identifier(self.schema)),
                               (REVOKED_PREFIX + nonce, str(int(time.time()))))
            return cur.rowcount == 1


# The org's pages (views.py) wear the Lightning Design System the app vendors.
SLDS = pathlib.Path(__file__).resolve().parents[2] / "web" / "static" / "slds"


def create_org_app(org: Org) -> Flask:
    """The Flask app that answers as Salesforce would."""
    app = Flask(__name__, static_folder=str(SLDS), static_url_path="/_slds")
    app.config["ORG"] = org
    transport.init_app(app, org)
    outage.init_app(app, org)
    common.init_app(app, org)
    auth.init_app(app, org)
    identity.init_app(app, org)
    discovery.init_app(app, org)
    sobjects.init_app(app, org)
    layouts.init_app(app, org)
    blobs.init_app(app, org)
    passwords.init_app(app, org)
    query.init_app(app, org)
    tooling.init_app(app, org)
    search.init_app(app, org)
    collections.init_app(app, org)
    composite.init_app(app, org)
    tree.init_app(app, org)
    metadata.init_app(app, org)
    bulk2.init_app(app, org)
    bulk1.init_app(app, org)
    apexrest.init_app(app, org)
    views.init_app(app, org)
    return app
