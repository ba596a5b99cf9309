"""The sync engine: what Heroku Connect does between Postgres and an org, for local use and tests.

Push (Postgres → Salesforce), per cycle:
1. claim NEW trigger-log rows (→ PENDING), oldest first;
2. send them in rounds — the 1st change of every record, then the 2nd, … — so changes to one record
   reach Salesforce in order; within a round, sObject Collections calls of up to 200 records:
   inserts as upserts on the mapping's upsert field (a resend cannot duplicate), updates by Id with
   only the changed, updateable fields, deletes by Id;
3. write back as Connect writes (xmlbinary hex: no echo into the trigger log): sfid and
   INSERTED/UPDATED, or FAILED with `_hc_err`; the log rows → SUCCESS/FAILED with `sf_message`;
4. archive processed rows.
Org unreachable, API limit reached or a record locked (UNABLE_TO_LOCK_ROW): claimed rows go back
to NEW and the caller backs off.

Pull (Salesforce → Postgres) is standins/connect/pull.py; the engine keeps the org client, the
counted API call and the describes both sides use.
"""

import json
import logging
from datetime import datetime
from itertools import groupby

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
from standins.connect import pull, state, writes
from standins.provision import external_id_relationship_columns, provision

log = logging.getLogger(__name__)
CLAIM_LIMIT = 2000
# Per-record errors that mean "not now" rather than "refused": the change stays queued and is sent again.
RETRIED_CODES = ("UNABLE_TO_LOCK_ROW",)


class OrgUnavailable(Exception):
    """The org cannot take writes now (unreachable, limit reached, login refused): keep changes queued."""


class OrgUnauthorized(OrgUnavailable):
    """The org refuses the engine's login (an expired or revoked authorization): nothing syncs until re-authorized."""


# Login faults that mean "these credentials are no longer good", not "the org is not answering".
AUTHORIZATION_REFUSED = ("INVALID_LOGIN", "INVALID_GRANT", "INVALID_SESSION_ID", "PASSWORD_LOCKOUT",
                         "INVALID_OPERATION_WITH_EXPIRED_PASSWORD", "LOGIN_MUST_USE_SECURITY_TOKEN")


CLAIM = """
UPDATE {s}._trigger_log AS t SET state = 'PENDING', updated_at = now()
WHERE t.id IN (SELECT id FROM {s}._trigger_log WHERE state = 'NEW' ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING t.id, t.action, t.table_name, t.record_id, t.sfid,
          hstore_to_json(t."values"::hstore) AS "values", hstore_to_json(t.old::hstore) AS old
"""
# A dead engine leaves PENDING rows behind: they were never confirmed, so they are sent again
# (safely: inserts are upserts on the external id, updates and deletes by Id are idempotent).
RELEASE_STALE = "UPDATE {s}._trigger_log SET state = 'NEW', updated_at = now() WHERE state = 'PENDING'"
RELEASE = "UPDATE {s}._trigger_log SET state = 'NEW', updated_at = now() WHERE id = ANY(%(ids)s) AND state = 'PENDING'"
FINISH = """
UPDATE {s}._trigger_log SET state = %(state)s, sf_result = %(result)s, sf_message = %(message)s,
       processed_at = now(), processed_tx = txid_current(), updated_at = now()
WHERE id = %(id)s
"""
WRITE_BACK = """
UPDATE {table} SET sfid = coalesce(%(sfid)s, sfid), _hc_lastop = %(lastop)s, _hc_err = %(err)s WHERE id = %(record_id)s
"""
ARCHIVE = """
WITH moved AS (
    DELETE FROM {s}._trigger_log
    WHERE state IN ('SUCCESS', 'FAILED', 'IGNORE', 'IGNORED', 'READONLY', 'MERGED')
    RETURNING *
)
INSERT INTO {s}._trigger_log_archive SELECT * FROM moved
"""
# The way Connect retries: an archived row set to REQUEUE is copied back into the log as NEW, in
# the archive's id order, so several requeued changes of one record are sent in the order made.
REQUEUE = """
WITH picked AS (
    UPDATE {s}._trigger_log_archive SET state = 'REQUEUED', updated_at = now() WHERE state = 'REQUEUE'
    RETURNING id, txid, action, table_name, record_id, sfid, old, "values"
)
INSERT INTO {s}._trigger_log (txid, state, action, table_name, record_id, sfid, old, "values")
SELECT txid, 'NEW', action, table_name, record_id, sfid, old, "values" FROM picked ORDER BY id
"""


def to_salesforce(field: dict, value):
    """A Postgres value (as hstore text or a Python value) in the form the REST API takes."""
    if value is None:
        return None
    kind = field["type"]
    if kind == "boolean":
        return value in (True, "t", "true")
    if kind in ("double", "currency", "percent"):
        return float(value)
    if kind == "int":
        return int(float(value))
    if kind == "date":
        return str(value)[:10]
    if kind == "datetime":
        text = value.isoformat() if isinstance(value, datetime) else str(value).replace(" ", "T")
        return text if text.endswith("Z") or "+" in text[10:] else text + "Z"
    return str(value)


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
        self._relationships = {}
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
        return self.conn.execute(sql.SQL(RELEASE_STALE).format(s=self.s)).rowcount

    # ---- push --------------------------------------------------------------------------------------

    def requeue(self) -> int:
        """Copy archived rows marked REQUEUE back into the trigger log as NEW."""
        return self.conn.execute(sql.SQL(REQUEUE).format(s=self.s)).rowcount

    def push_once(self, limit: int = CLAIM_LIMIT) -> int:
        """Send one claim of NEW changes; return how many log rows were processed."""
        self.requeue()
        with self.conn.transaction():
            claimed = self.conn.execute(sql.SQL(CLAIM).format(s=self.s), {"limit": limit}).fetchall()
        if not claimed:
            self.archive()
            return 0
        claimed.sort(key=lambda r: r["id"])
        pending = {r["id"] for r in claimed}
        try:
            for round_rows in _rounds(claimed):
                self._push_round(round_rows, pending)
        except OrgUnavailable:
            self.conn.execute(sql.SQL(RELEASE).format(s=self.s), {"ids": list(pending)})
            raise
        finally:
            self.archive()
        return len(claimed)

    def archive(self) -> int:
        """Move processed trigger-log rows to the archive."""
        return self.conn.execute(sql.SQL(ARCHIVE).format(s=self.s)).rowcount

    def _push_round(self, rows, pending):
        current = self._current_rows(rows)
        batches = {}
        for row in rows:
            mapping = self.by_table.get(row["table_name"])
            if mapping is None or not mapping.read_write:
                self._finish([_outcome(row, "FAILED", f"{row['table_name']} is not a read-write mapping")], pending)
                continue
            kind, sfid = self._kind(row, current.get((row["table_name"], row["record_id"])))
            batches.setdefault((mapping.object_name, kind), []).append((row, sfid))
        for (object_name, kind), items in batches.items():
            mapping = self.mappings[object_name]
            for start in range(0, len(items), connect.WRITE_BATCH_SIZE):
                chunk = items[start:start + connect.WRITE_BATCH_SIZE]
                self._finish(self._send(mapping, kind, chunk), pending)

    def _current_rows(self, rows):
        """Each touched record's sfid now (an insert earlier in this claim may have set it)."""
        found = {}
        for table, group in groupby(sorted(rows, key=lambda r: r["table_name"]), key=lambda r: r["table_name"]):
            if table not in self.by_table:
                continue
            ids = [r["record_id"] for r in group]
            for r in self.conn.execute(sql.SQL("SELECT id, sfid FROM {} WHERE id = ANY(%s)").format(
                    sql.Identifier(self.schema, table)), (ids,)):
                found[(table, r["id"])] = r["sfid"]
        return found

    @staticmethod
    def _kind(row, sfid_now):
        sfid = sfid_now or row["sfid"] or (row["old"] or {}).get("sfid")
        if row["action"] == "DELETE":
            return "delete", sfid
        if row["action"] == "INSERT" or not sfid:
            return "upsert", sfid
        return "update", sfid

    def _payload(self, mapping, fields, row, kind):
        values = row["values"] or {}
        record = {"attributes": {"type": mapping.object_name}}
        relationship = self._relationship_columns(mapping)
        for column, value in values.items():
            if column in relationship:
                lookup, rel_name, ext_field = relationship[column]
                if value is not None and not values.get(lookup) and not (row["old"] or {}).get(lookup):
                    record[rel_name] = {ext_field: value}
                continue
            f = fields.get(column)
            if f is None or column == "sfid":
                continue
            allowed = f["createable"] if kind == "upsert" else f["updateable"]
            if kind == "upsert" and f["name"] == mapping.upsert_field:
                allowed = True
            if not allowed or (kind == "upsert" and value is None):
                continue
            record[f["name"]] = to_salesforce(f, value)
        return record

    def _relationship_columns(self, mapping):
        """Relationship column → (lookup column, relationship name, parent's external id field), once per mapping."""
        if mapping.object_name in self._relationships:
            return self._relationships[mapping.object_name]
        own = self.describe(mapping.object_name)
        lookups = [f for f in own["fields"] if f["type"] == "reference" and f["name"] in mapping.fields]
        # Describe only the parents that can be named by external id: every describe is an API call.
        objects = {mapping.object_name: own}
        for f in lookups:
            for target in f["referenceTo"]:
                if target in self.mappings and self.mappings[target].upsert_field:
                    objects[target] = self.describe(target)
        out = {}
        for column in external_id_relationship_columns(mapping, self.mappings, objects):
            for f in lookups:
                if column.startswith((f["relationshipName"] or "").lower() + "__"):
                    ext_field = self.mappings[f["referenceTo"][0]].upsert_field
                    out[column] = (connect.column_name(f["name"]), f["relationshipName"], ext_field)
        self._relationships[mapping.object_name] = out
        return out

    def _send(self, mapping, kind, items):
        """One collections call; return an outcome per log row."""
        fields = self.fields(mapping)
        if kind == "delete":
            live = [(row, sfid) for row, sfid in items if sfid]
            outcomes = [_outcome(row, "SUCCESS", None) for row, sfid in items if not sfid]
            if live:
                results = self.call(mapping.object_name, self.sf.restful, "composite/sobjects", method="DELETE",
                                    params={"ids": ",".join(sfid for _, sfid in live), "allOrNone": "false"})
                for (row, _), result in zip(live, results, strict=True):
                    gone = not result["success"] and result["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
                    outcomes.append(_outcome(row, "SUCCESS" if result["success"] or gone else "FAILED",
                                             None if result["success"] or gone else result["errors"]))
            return outcomes
        records, outcomes, sendable = [], [], []
        for row, sfid in items:
            record = self._payload(mapping, fields, row, kind)
            if kind == "update":
                record["Id"] = sfid
                if len(record) == 2:  # only columns Salesforce does not take changed (e.g. system columns)
                    outcomes.append(_outcome(row, "SUCCESS", None, sfid=sfid, lastop=None))
                    continue
            elif not record.get(mapping.upsert_field):
                outcomes.append(_outcome(row, "FAILED", [{"statusCode": "REQUIRED_FIELD_MISSING", "message":
                    f"{mapping.upsert_field} (the upsert field) is empty: Connect cannot insert this row"}]))
                continue
            records.append(record)
            sendable.append((row, sfid))
        if not records:
            return outcomes
        if kind == "update":
            results = self.call(mapping.object_name, self.sf.restful, "composite/sobjects", method="PATCH",
                                json={"allOrNone": False, "records": records})
        else:
            results = self.call(mapping.object_name, self.sf.restful,
                                f"composite/sobjects/{mapping.object_name}/{mapping.upsert_field}", method="PATCH",
                                json={"allOrNone": False, "records": records})
        for (row, sfid), result in zip(sendable, results, strict=True):
            if result["success"]:
                created = result.get("created", kind != "update" and not sfid)
                outcomes.append(_outcome(row, "SUCCESS", None, sfid=result["id"],
                                         lastop=connect.INSERTED if created else connect.UPDATED))
            else:
                outcomes.append(_outcome(row, "FAILED", result["errors"]))
        return outcomes

    def _finish(self, outcomes, pending):
        """Write results back the way Connect does: no echo, sfid and _hc_lastop on the row, state on the log.

        A record the org could not lock (UNABLE_TO_LOCK_ROW) is not a refusal: its change stays queued,
        and OrgUnavailable (raised once the rest is written) backs the engine off before it is sent again.
        """
        locked = [o for o in outcomes if _error_code(o) in RETRIED_CODES]
        outcomes = [o for o in outcomes if _error_code(o) not in RETRIED_CODES]
        write_backs, finished, pushed = {}, [], {}
        for o in outcomes:
            row = o["row"]
            mapping = self.by_table.get(row["table_name"])
            if mapping is not None and row["action"] != "DELETE" and (o["lastop"] or o["state"] == "FAILED"):
                write_backs.setdefault(mapping.table, []).append({
                    "sfid": o["sfid"], "record_id": row["record_id"], "err": o["err"],
                    "lastop": connect.FAILED if o["state"] == "FAILED" else o["lastop"]})
            finished.append({"id": row["id"], "state": o["state"], "message": o["message"],
                             "result": 0 if o["state"] == "SUCCESS" else 1})
            if mapping is not None and o["state"] == "SUCCESS":
                pushed[mapping.object_name] = pushed.get(mapping.object_name, 0) + 1
        with self.conn.transaction(), self.conn.cursor() as cur:
            writes.write_as_connect(cur)
            for table, params in write_backs.items():
                cur.executemany(sql.SQL(WRITE_BACK).format(table=sql.Identifier(self.schema, table)), params)
            cur.executemany(sql.SQL(FINISH).format(s=self.s), finished)
            for object_name, count in pushed.items():
                cur.execute(sql.SQL("UPDATE {}.mapping_state SET rows_pushed = rows_pushed + %s, "
                                    "last_sync_at = now() WHERE object_name = %s").format(sql.Identifier(state.SCHEMA)),
                            (count, object_name))
        pending.difference_update(f["id"] for f in finished)
        if locked:
            raise OrgUnavailable(f"the org could not lock {len(locked)} record(s) (UNABLE_TO_LOCK_ROW)")

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


def _rounds(rows):
    """Split claimed rows so that each record's changes go out one per round, oldest first."""
    seen, rounds = {}, []
    for row in rows:
        key = (row["table_name"], row["record_id"])
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return rounds


def _outcome(row, result_state, errors, *, sfid=None, lastop=None):
    if isinstance(errors, str):
        errors = [{"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": errors}]
    message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) if errors else None
    err = json.dumps({"op": row["action"], "src": "SFDC", "msg": errors[0].get("message"), "errors": errors}) \
        if errors else None
    return {"row": row, "state": result_state, "message": message, "err": err, "sfid": sfid, "lastop": lastop}


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
