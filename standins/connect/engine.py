"""The sync engine: what Heroku Connect does between Postgres and an org, for local use and tests.

Push (Postgres → Salesforce) lives in `standins/connect/push.py` (the two write algorithms, the
Bulk API, the write-back); the Engine delegates to it and keeps what both directions share: the org
client, counted API calls, describes.

Pull (Salesforce → Postgres), per mapping: queryAll by (SystemModstamp, Id) after a watermark, so
records sharing a timestamp are neither missed nor repeated; rows matched by sfid, then by the
upsert field, else inserted; IsDeleted records deleted; written as Connect writes (SYNCED).
"""

import logging
from datetime import UTC, date, datetime
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
from standins.connect import state, writes
from standins.provision import provision

log = logging.getLogger(__name__)
PULL_PAGE = 2000


class OrgUnavailable(Exception):
    """The org cannot take writes now (unreachable, limit reached, login refused): keep changes queued."""


def to_postgres(field: dict, value):
    """A REST API value in the form Connect stores it (timestamps in UTC without time zone)."""
    if value is None:
        return None
    if field["type"] == "datetime":
        text = value.replace("+0000", "+00:00").replace("Z", "+00:00")
        return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
    if field["type"] == "date":
        return date.fromisoformat(value[:10])
    return value


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
            except (requests.RequestException, SalesforceAuthenticationFailed, SalesforceError) as exc:
                raise OrgUnavailable(f"cannot log in to the org: {exc}") from exc
        return self._sf

    def call(self, object_name: str, fn, *args, **kwargs):
        """One API call, counted for the mapping; failures that mean "not now" become OrgUnavailable."""
        try:
            result = fn(*args, **kwargs)
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

    # ---- pull --------------------------------------------------------------------------------------

    def pull_once(self, object_name: str) -> int:
        """Bring every record changed in the org since the watermark into Postgres; return how many."""
        mapping = self.mappings[object_name]
        fields = self.fields(mapping)
        total = 0
        while True:
            mark = state.mapping_row(self.conn, object_name)
            if mark["state"] == "INITIAL":
                state.set_mapping_state(self.conn, object_name, "POLLING_SF_CHANGES")
            soql = poll_query(mapping, mark["watermark_ts"], mark["watermark_id"])
            records = self.call(object_name, self.sf.query, soql, include_deleted=True)["records"]
            if records:
                self._apply(mapping, fields, records)
                total += len(records)
            self.conn.execute(sql.SQL("UPDATE {}.mapping_state SET last_poll_at = now(), state = 'DATA_SYNCED' "
                                      "WHERE object_name = %s").format(sql.Identifier(state.SCHEMA)), (object_name,))
            if len(records) < PULL_PAGE:
                return total

    def _apply(self, mapping, fields, records):
        """Write one page of org records as Connect does, and move the watermark, in one transaction."""
        table = sql.Identifier(self.schema, mapping.table)
        ext_column = connect.column_name(mapping.upsert_field) if mapping.upsert_field else None
        with self.conn.transaction():
            writes.write_as_connect(self.conn)
            ids = [r["Id"] for r in records]
            ext_values = [r.get(mapping.upsert_field) for r in records if mapping.upsert_field]
            existing = self.conn.execute(sql.SQL(
                "SELECT id, sfid, _hc_lastop, {ext} AS ext FROM {t} WHERE sfid = ANY(%s) OR {ext} = ANY(%s)").format(
                t=table, ext=sql.Identifier(ext_column) if ext_column else sql.SQL("NULL::text")),
                (ids, [v for v in ext_values if v])).fetchall()
            by_sfid = {r["sfid"]: r for r in existing if r["sfid"]}
            by_ext = {r["ext"]: r for r in existing if r["ext"] and not r["sfid"]}
            columns = list(fields)
            for record in records:
                values = {c: to_postgres(fields[c], record.get(fields[c]["name"])) for c in columns}
                match = by_sfid.get(record["Id"]) or (by_ext.get(record.get(mapping.upsert_field))
                                                      if mapping.upsert_field else None)
                if record.get("IsDeleted"):
                    if match:
                        self.conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table), (match["id"],))
                    continue
                if match and match["_hc_lastop"] == connect.PENDING:
                    # An app change not yet sent: it will overwrite Salesforce (last writer wins), and the
                    # next poll brings the result back. Overwriting it now would hide it from the user.
                    continue
                if match:
                    assignments = sql.SQL(", ").join(sql.SQL("{} = %({})s").format(sql.Identifier(c), sql.SQL(c))
                                                     for c in columns)
                    self.conn.execute(sql.SQL("UPDATE {} SET {}, _hc_lastop = NULL WHERE id = %(_row_id)s").format(
                        table, assignments), {**values, "_row_id": match["id"]})
                else:
                    self.conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        table, sql.SQL(", ").join(map(sql.Identifier, columns)),
                        sql.SQL(", ").join(sql.SQL("%({})s").format(sql.SQL(c)) for c in columns)), values)
            last = records[-1]
            self.conn.execute(sql.SQL(
                "UPDATE {}.mapping_state SET watermark_ts = %s, watermark_id = %s, rows_pulled = rows_pulled + %s, "
                "last_sync_at = now() WHERE object_name = %s").format(sql.Identifier(state.SCHEMA)),
                (to_postgres({"type": "datetime"}, last["SystemModstamp"]), last["Id"], len(records),
                 mapping.object_name))


def poll_query(mapping, watermark_ts, watermark_id) -> str:
    """SOQL for the page after (SystemModstamp, Id): records sharing a timestamp are neither missed nor repeated."""
    soql = "SELECT " + ", ".join(mapping.fields) + " FROM " + mapping.object_name  # noqa: S608 (SOQL, not SQL)
    if watermark_ts is not None:
        ts = watermark_ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{watermark_ts.microsecond // 1000:03d}Z"
        soql += f" WHERE SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{watermark_id}')"
    return soql + f" ORDER BY SystemModstamp, Id LIMIT {PULL_PAGE}"


def _error_code(exc) -> str | None:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None
