"""The sync engine: what Heroku Connect does between Postgres and an org, for local use and tests.

Push (Postgres → Salesforce) lives in standins/connect/push.py (the two write algorithms, the Bulk
API, the write-back; org unreachable, API limit reached or a record locked: claimed rows go back to
NEW and the caller backs off). Pull (Salesforce → Postgres) is standins/connect/pull.py. The engine
keeps what both directions share: the org client, the counted API call, the describes.
"""

import logging
from functools import cached_property

import requests
from psycopg import sql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from core import connect, db
from standins.connect import pull, state
from standins.provision import provision

log = logging.getLogger(__name__)


class OrgUnavailable(Exception):
    """The org cannot take writes now (unreachable, limit reached, login refused): keep changes queued."""


class OrgUnauthorized(OrgUnavailable):
    """The org refuses the engine's login (an expired or revoked authorization): nothing syncs until re-authorized."""


# Login faults that mean "these credentials are no longer good", not "the org is not answering".
AUTHORIZATION_REFUSED = ("INVALID_LOGIN", "INVALID_GRANT", "INVALID_SESSION_ID", "PASSWORD_LOCKOUT",
                         "INVALID_OPERATION_WITH_EXPIRED_PASSWORD", "LOGIN_MUST_USE_SECURITY_TOKEN")


class Engine:
    """One sync engine for one Connect schema and one org."""

    def __init__(self, database_url: str, schema: str, salesforce_factory, mappings=None):
        self.database_url, self.schema = database_url, schema
        self.s = sql.Identifier(schema)
        # Called for a new client whenever the org was unreachable: a restarted org needs a new login.
        self.factory = salesforce_factory
        self.mappings = mappings or connect.mappings()
        self.by_table = {m.table: m for m in self.mappings.values()}
        self.conn = db.connect(database_url)
        self._sf = None
        self._describes = {}
        self._fields = {}
        state.ensure(self.conn)

    # ---- the org -----------------------------------------------------------------------------------

    @property
    def sf(self):
        """The org client, logged in on first use."""
        if self._sf is None:
            try:
                self._sf = self.factory()
            except SalesforceAuthenticationFailed as exc:
                raise _login_refused(exc) from exc
            except requests.RequestException as exc:
                raise OrgUnavailable(f"the org is unreachable: {type(exc).__name__}") from exc
            except SalesforceError as exc:
                raise OrgUnavailable(f"cannot log in to the org: {exc}") from exc
        return self._sf

    def call(self, object_name: str, fn, *args, **kwargs):
        """One API call, counted for the mapping; failures that mean "not now" become OrgUnavailable."""
        try:
            result = fn(*args, **kwargs)
        except SalesforceAuthenticationFailed as exc:  # simple-salesforce logs in again after a 401 itself
            self._sf = None
            raise _login_refused(exc) from exc
        except SalesforceExpiredSession:
            self._sf = None
            raise OrgUnavailable("the org session expired; logging in again on the next attempt") from None
        except SalesforceRefusedRequest as exc:
            if _error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                self._count(object_name)
                raise OrgUnavailable("the org's daily API request limit is reached") from exc
            raise
        except SalesforceGeneralError as exc:
            if exc.status >= 500:
                raise OrgUnavailable(f"the org answered {exc.status}") from exc
            raise
        except requests.RequestException as exc:
            raise OrgUnavailable(f"the org is unreachable: {type(exc).__name__}") from exc
        self._count(object_name)
        return result

    def _count(self, object_name):
        usage = getattr(self._sf, "api_usage", {}).get("api-usage") if self._sf else None
        state.mapping_row(self.conn, object_name)
        state.count_api_calls(self.conn, object_name, 1, (usage.used, usage.total) if usage else None)

    def describe(self, object_name: str) -> dict:
        """The org's describe of an object (fetched once)."""
        if object_name not in self._describes:
            self._describes[object_name] = self.call(object_name, getattr(self.sf, object_name).describe)
        return self._describes[object_name]

    def fields(self, mapping) -> dict:
        """Column → describe entry for a mapping's fields, from the org's describe."""
        if mapping.object_name not in self._fields:
            described = {f["name"]: f for f in self.describe(mapping.object_name)["fields"]}
            self._fields[mapping.object_name] = {("sfid" if f == "Id" else connect.column_name(f)): described[f]
                                                 for f in mapping.fields if f in described}
        return self._fields[mapping.object_name]

    # ---- start-up ----------------------------------------------------------------------------------

    def provision(self) -> list:
        """Build or update the local Connect schema from the org's describe plus the mapping file, as Connect does."""
        objects = {name: self.describe(name) for name in self.mappings}
        return provision(self.conn, self.schema, self.mappings, objects, log=lambda *_: None)

    def reconnect(self) -> None:
        """A new database connection (after Postgres restarted); the org client is kept."""
        self.conn = db.connect(self.database_url)

    def log_out(self) -> None:
        """Forget the org session: the next call logs in again (after re-authorization)."""
        self._sf = None

    def release_stale_claims(self) -> int:
        """Put back rows a killed engine had claimed but never confirmed."""
        return self.pusher.release_stale_claims()

    # ---- push (standins/connect/push.py) -----------------------------------------------------------

    @cached_property
    def pusher(self):
        """The push side, with the write algorithm the mapping file chooses."""
        from standins.connect.push import Pusher  # push.py imports this module's OrgUnavailable

        return Pusher(self)

    def requeue(self) -> int:
        """Copy archived rows marked REQUEUE back into the trigger log as NEW."""
        return self.pusher.requeue()

    def push_once(self, limit: int | None = None) -> int:
        """Send one claim of NEW changes; return how many log rows were processed."""
        return self.pusher.push_once() if limit is None else self.pusher.push_once(limit)

    def archive(self) -> int:
        """Move processed trigger-log rows to the archive."""
        return self.pusher.archive()

    # ---- pull (standins/connect/pull.py) ------------------------------------------------------------

    def reload(self, object_name: str) -> int:
        """Connect's mapping reload: the table emptied (TRUNCATE, new row ids) and refilled from the org."""
        mapping = self.mappings[object_name]
        with self.conn.transaction():
            state.reset_watermark(self.conn, object_name, "RELOAD_TABLE")
            # No CASCADE: a foreign key from another table into this one stops the reload, as it
            # breaks Connect's (which is why the app refers to Connect rows by sfid / external id).
            self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(self.schema, mapping.table)))
        return self.pull_once(object_name)

    def pull_once(self, object_name: str) -> int:
        """Read one mapping from the org now (pull.pull_once); return how many records were written."""
        return pull.pull_once(self, object_name)


def _login_refused(exc) -> OrgUnavailable:
    """OrgUnauthorized when the org refused the credentials, OrgUnavailable when it could not answer."""
    if any(code in str(getattr(exc, "code", "")) for code in AUTHORIZATION_REFUSED):
        return OrgUnauthorized(f"the org refuses the engine's login: {exc}")
    return OrgUnavailable(f"cannot log in to the org: {exc}")


def _error_code(exc) -> str | None:
    """The errorCode of a refused call (an exception), or the statusCode of a refused record (an outcome)."""
    if isinstance(exc, dict):
        return (exc["message"] or "").partition(":")[0] if exc["state"] == "FAILED" else None
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None
