"""The local Connect's push (Postgres → Salesforce), with Heroku Connect's two write algorithms.

Per cycle:
1. claim NEW trigger-log rows (→ PENDING), oldest first;
2. send them by the connection's write algorithm (the mapping file's `connection.features`):
   - **Merged Writes** (`poll_db_no_merge` false, Connect's default): the changes to one record are
     condensed into one write — the newest log row carries it, the earlier ones end `MERGED` — and
     the writes go out grouped by mapping and kind, with no order across records, in sObject
     Collections calls of 200 (Connect's SOAP batches). Never the Bulk API.
   - **Ordered Writes** (`poll_db_no_merge` true): trigger-log order is kept. Consecutive changes of
     one kind to one mapping form a run; a run of BULK_WRITE_THRESHOLD changes or more goes out as a
     Bulk API 1.0 job (batches of 10,000) unless `disable_bulk_writes` is set; shorter runs go out in
     collections calls, in order. Records a bulk insert refused are sent again one collections call
     at a time, as Connect falls back to SOAP.
   Inserts are upserts on the mapping's upsert field (a resend cannot duplicate; without one, plain
   creates), updates by Id with only the changed, updateable fields, deletes by Id;
3. write back as Connect writes (xmlbinary hex: no echo into the trigger log): sfid and
   INSERTED/UPDATED, or FAILED with `_hc_err`; the log rows move to the archive as SUCCESS/FAILED/
   MERGED with `sf_message`, in the same statement;
4. log one line per mapping (standins/connect/hop_lines.py): what happened in words
   (`Case “…” → Salesforce: inserted 500… (1 row, 0.08 s)`), then the facts as logfmt pairs: rows,
   API calls, bulk batches, algorithm, duration, failures. A refusal makes it a WARNING.
Org unreachable or API limit reached: claimed rows go back to NEW and the caller backs off.
"""

import dataclasses
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from psycopg import sql
from simple_salesforce.exceptions import SalesforceError

from core import connect, logs
from standins.connect import hop_lines, state, writes
from standins.connect.engine import OrgUnavailable
from standins.provision import external_id_relationship_columns

log = logging.getLogger("standins.connect.push")

# One claim is at most one full Bulk API 1.0 batch, so a large run is not cut into small jobs.
CLAIM_LIMIT = 10_000
# Per-record errors that mean "not now" rather than "refused": the change stays queued and is sent again.
RETRIED_CODES = ("UNABLE_TO_LOCK_ROW",)
# Under Ordered Writes a run of changes of one kind to one mapping goes to the Bulk API from this
# size: the app's assumption, kept in core/connect.py with the cost planner's (Heroku publishes none).
BULK_WRITE_THRESHOLD = connect.BULK_WRITE_THRESHOLD
# A Bulk API 1.0 batch holds at most 10,000 records.
BULK_BATCH_SIZE = connect.BULK_BATCH_SIZE

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
# One statement for a whole group's results: each log row leaves the live log for the archive with
# its outcome (Connect's archiving, done as the result is recorded: one pass over the rows, not two).
FINISH = """
WITH done AS (
    DELETE FROM {s}._trigger_log AS t
    USING unnest(%(id)s::integer[], %(state)s::text[], %(result)s::integer[], %(message)s::text[])
          AS v(id, state, result, message)
    WHERE t.id = v.id
    RETURNING t.id, t.txid, t.created_at, v.state, t.action, t.table_name, t.record_id, t.sfid, t.old, t."values",
              v.result, v.message
)
INSERT INTO {s}._trigger_log_archive (id, txid, created_at, updated_at, processed_at, processed_tx, state, action,
                                      table_name, record_id, sfid, old, "values", sf_result, sf_message)
SELECT id, txid, created_at, now(), now(), txid_current(), state, action, table_name, record_id, sfid, old, "values",
       result, message
FROM done
"""
# A record a poll brought back before its sfid was stored already has its own row (the duplicate-row
# race of a mapping without an upsert field): the unique sfid index lets only one row hold the sfid.
WRITE_BACK = """
UPDATE {table} AS t
SET sfid = CASE WHEN v.sfid IS NULL OR EXISTS (SELECT 1 FROM {table} AS o WHERE o.sfid = v.sfid AND o.id <> t.id)
                THEN t.sfid ELSE v.sfid END,
    _hc_lastop = v.lastop, _hc_err = v.err
FROM unnest(%(record_id)s::integer[], %(sfid)s::text[], %(lastop)s::text[], %(err)s::text[])
     AS v(record_id, sfid, lastop, err)
WHERE t.id = v.record_id
"""
COUNT_PUSHED = """
UPDATE {state}.mapping_state SET rows_pushed = rows_pushed + %(n)s, last_sync_at = now() WHERE object_name = %(object)s
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
CURRENT_SFIDS = "SELECT id, sfid FROM {table} WHERE id = ANY(%(ids)s)"


@dataclass(frozen=True)
class WriteSettings:
    """Which write algorithm the connection uses, and whether it may write through the Bulk API."""

    ordered: bool = False
    bulk: bool = True

    @classmethod
    def from_features(cls, features: dict) -> "WriteSettings":
        """From the mapping file's `connection.features`: `poll_db_no_merge` true = Ordered Writes."""
        return cls(ordered=bool(features.get("poll_db_no_merge")), bulk=not features.get("disable_bulk_writes"))

    @property
    def algorithm(self) -> str:
        return "ordered" if self.ordered else "merged"


@dataclass
class Tally:
    """What one push cost one mapping, for its log line."""

    rows: int = 0
    merged: int = 0
    failed: int = 0
    api_calls: int = 0
    bulk_batches: int = 0
    fallback: int = 0
    seconds: float = 0.0
    apis: tuple = ()
    # For the line's words: records by outcome, the first record's (name, outcome, sfid), the first refusal.
    done: dict = dataclasses.field(default_factory=lambda: {"inserted": 0, "updated": 0, "deleted": 0, "failed": 0})
    first: tuple | None = None
    failure: tuple | None = None

    def used(self, api: str) -> None:
        if api not in self.apis:
            self.apis = (*self.apis, api)

    def record(self, outcome: dict) -> None:
        """Count one record's outcome for the line's words."""
        row, ok = outcome["row"], outcome["state"] != connect.LOG_FAILED
        what = ("deleted" if row["action"] == "DELETE" else
                "inserted" if outcome["lastop"] == connect.INSERTED else "updated") if ok else "failed"
        self.done[what] += 1
        if self.first is None:
            self.first = (hop_lines.name_of(row["values"]), what, outcome["sfid"] or row["sfid"])
        if not ok and self.failure is None:
            code, _, message = (outcome["message"] or "").partition(": ")
            self.failure = (code, message.split("; ")[0])


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


class Pusher:
    """The push side of one engine: claims trigger-log rows and sends them as the write algorithm says."""

    def __init__(self, engine, settings: WriteSettings | None = None):
        self.engine = engine
        self.settings = settings or WriteSettings.from_features(connect.connection_features())
        self._relationships = {}

    @property
    def conn(self):
        return self.engine.conn

    @cached_property
    def s(self):
        return sql.Identifier(self.engine.schema)

    # ---- the cycle ---------------------------------------------------------------------------------

    def release_stale_claims(self) -> int:
        """Put back rows a killed engine had claimed but never confirmed."""
        return self.conn.execute(sql.SQL(RELEASE_STALE).format(s=self.s)).rowcount

    def requeue(self) -> int:
        """Copy archived rows marked REQUEUE back into the trigger log as NEW."""
        return self.conn.execute(sql.SQL(REQUEUE).format(s=self.s)).rowcount

    def archive(self) -> int:
        """Move processed trigger-log rows to the archive."""
        return self.conn.execute(sql.SQL(ARCHIVE).format(s=self.s)).rowcount

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
        tallies = {}
        try:
            units = _ordered_runs(claimed) if self.settings.ordered else [_merged(claimed)]
            for unit in units:
                self._send_unit(unit, pending, tallies)
        except OrgUnavailable:
            self.conn.execute(sql.SQL(RELEASE).format(s=self.s), {"ids": list(pending)})
            raise
        finally:
            self.archive()
            self._log(tallies)
        return len(claimed)

    def _send_unit(self, rows, pending, tallies):
        """Send rows that may go out together (a run, or a claim's merged writes), grouped by mapping and kind.

        Each group's results are recorded once, after its last call (also when the org stops
        answering part-way): under Ordered Writes before the next run, which may need their sfids.
        """
        groups, refused = {}, []
        sfids = self._current_sfids(rows)
        for row in rows:
            mapping = self.engine.by_table.get(row["table_name"])
            if mapping is None or not mapping.read_write:
                refused.append(_outcome(row, "FAILED", f"{row['table_name']} is not a read-write mapping"))
                continue
            kind, sfid = _kind(mapping, row, sfids.get((row["table_name"], row["record_id"])))
            groups.setdefault((mapping.object_name, kind), []).append((row, sfid))
        self._finish(refused, pending)
        for (object_name, kind), items in groups.items():
            mapping = self.engine.mappings[object_name]
            tally = tallies.setdefault(object_name, Tally())
            started = time.perf_counter()
            done = []
            try:
                if self.settings.ordered and self.settings.bulk and len(items) >= BULK_WRITE_THRESHOLD:
                    self._send_bulk(mapping, kind, items, done, tally, pending)
                else:
                    self._send_soap(mapping, kind, items, done, tally, pending)
            finally:
                self._finish(done, pending, tally)
                tally.seconds += time.perf_counter() - started

    def _current_sfids(self, rows):
        """Each touched record's sfid now (an insert sent earlier in this claim may have set it)."""
        by_table = {}
        for row in rows:
            # An insert is sent as an upsert whatever its row holds: only later changes need the sfid now.
            if row["action"] != "INSERT" and row["table_name"] in self.engine.by_table:
                by_table.setdefault(row["table_name"], []).append(row["record_id"])
        found = {}
        for table, ids in by_table.items():
            statement = sql.SQL(CURRENT_SFIDS).format(table=sql.Identifier(self.engine.schema, table))
            for r in self.conn.execute(statement, {"ids": ids}):
                found[(table, r["id"])] = r["sfid"]
        return found

    # ---- building records --------------------------------------------------------------------------

    def _records(self, mapping, kind, items):
        """(records to send, their (row, sfid), outcomes settled without a call)."""
        fields = self.engine.fields(mapping)
        records, sendable, settled = [], [], []
        for row, sfid in items:
            if kind == "delete":
                if sfid:
                    records.append({"attributes": {"type": mapping.object_name}, "Id": sfid})
                    sendable.append((row, sfid))
                else:  # never reached Salesforce: nothing to delete there
                    settled.append(_outcome(row, "SUCCESS", None))
                continue
            record = self._payload(mapping, fields, row, kind)
            if kind == "update":
                record["Id"] = sfid
                if len(record) == 2:  # only columns Salesforce does not take changed (e.g. system columns)
                    settled.append(_outcome(row, "SUCCESS", None, sfid=sfid, lastop=None))
                    continue
            elif kind == "upsert" and not record.get(mapping.upsert_field):
                settled.append(_outcome(row, "FAILED", [{"statusCode": "REQUIRED_FIELD_MISSING", "message":
                    f"{mapping.upsert_field} (the upsert field) is empty: Connect cannot insert this row"}]))
                continue
            records.append(record)
            sendable.append((row, sfid))
        return records, sendable, settled

    def _payload(self, mapping, fields, row, kind):
        values = row["values"] or {}
        record = {"attributes": {"type": mapping.object_name}}
        relationship = self._relationship_columns(mapping)
        creating = kind in ("upsert", "insert")
        for column, value in values.items():
            if column in relationship:
                lookup, rel_name, ext_field = relationship[column]
                if value is not None and not values.get(lookup) and not (row["old"] or {}).get(lookup):
                    record[rel_name] = {ext_field: value}
                continue
            f = fields.get(column)
            if f is None or column == "sfid":
                continue
            allowed = f["createable"] if creating else f["updateable"]
            if creating and f["name"] == mapping.upsert_field:
                allowed = True
            if not allowed or (creating and value is None):
                continue
            record[f["name"]] = to_salesforce(f, value)
        return record

    def _relationship_columns(self, mapping):
        """Relationship column → (lookup column, relationship name, parent's external id field), once per mapping."""
        if mapping.object_name in self._relationships:
            return self._relationships[mapping.object_name]
        engine = self.engine
        own = engine.describe(mapping.object_name)
        lookups = [f for f in own["fields"] if f["type"] == "reference" and f["name"] in mapping.fields]
        # Describe only the parents that can be named by external id: every describe is an API call.
        objects = {mapping.object_name: own}
        for f in lookups:
            for target in f["referenceTo"]:
                if target in engine.mappings and engine.mappings[target].upsert_field:
                    objects[target] = engine.describe(target)
        out = {}
        for column in external_id_relationship_columns(mapping, engine.mappings, objects):
            for f in lookups:
                if column.startswith((f["relationshipName"] or "").lower() + "__"):
                    ext_field = engine.mappings[f["referenceTo"][0]].upsert_field
                    out[column] = (connect.column_name(f["name"]), f["relationshipName"], ext_field)
        self._relationships[mapping.object_name] = out
        return out

    # ---- sending -----------------------------------------------------------------------------------

    def _send_soap(self, mapping, kind, items, done, tally, pending):
        """Collections calls of up to 200 records (Connect's SOAP batches), one after another, each recorded.

        One call is in flight at a time, as Connect writes; the next call's records are built while
        the org works on the current one. Each call's results are recorded as it answers, so a row
        shows its sfid as soon as Salesforce has it.
        """
        in_flight = None
        with ThreadPoolExecutor(max_workers=1) as sender:
            for start in range(0, len(items), connect.WRITE_BATCH_SIZE):
                records, sendable, settled = self._records(mapping, kind, items[start:start + connect.WRITE_BATCH_SIZE])
                done += settled
                if in_flight is not None:
                    self._finish(in_flight.result(), pending, tally)
                    in_flight = None
                if records:
                    in_flight = sender.submit(self._collections, mapping, kind, records, sendable, tally)
            if in_flight is not None:
                self._finish(in_flight.result(), pending, tally)

    def _collections(self, mapping, kind, records, sendable, tally):
        """One collections call; an outcome per sent log row."""
        tally.used("soap")
        sf = self.engine.sf
        path, request = _collections_call(mapping, kind, records)
        before = _requests(sf)[0]
        results = self.engine.call(mapping.object_name, sf.restful, path, **request)
        tally.api_calls += _requests(sf)[0] - before
        return _results(kind, sendable, results)

    def _send_bulk(self, mapping, kind, items, done, tally, pending):
        """A Bulk API 1.0 job for a long run; inserts it refused (or the whole run, if it failed) go out by SOAP."""
        records, sendable, settled = self._records(mapping, kind, items)
        done += settled
        if not records:
            return
        tally.used("bulk")
        sf = self.engine.sf
        operation = getattr(sf.bulk, mapping.object_name)
        data = [{k: v for k, v in r.items() if k != "attributes"} for r in records]
        before = _requests(sf)[0]
        batches = -(-len(data) // BULK_BATCH_SIZE)
        try:
            if kind == "upsert":
                results = self.engine.call(mapping.object_name, operation.upsert, data, mapping.upsert_field,
                                           batch_size=BULK_BATCH_SIZE, use_serial=True)
            else:
                results = self.engine.call(mapping.object_name, getattr(operation, kind), data,
                                           batch_size=BULK_BATCH_SIZE, use_serial=True)
        except SalesforceError as exc:  # the job or a batch was refused (e.g. the daily batch allowance)
            results, reason = None, f"{type(exc).__name__}: {exc}"
        finally:
            made = _requests(sf)[0] - before
            tally.api_calls += made
            tally.bulk_batches += batches
            # engine.call counted one call; the job took `made` requests and `batches` batches.
            state.count_api_calls(self.conn, mapping.object_name, max(made - 1, 0), batches=batches)
        if results is None:
            retry = sendable
        else:
            # Connect falls back to SOAP for the inserts a bulk batch refused; other failures are final.
            fallback = kind in ("upsert", "insert")
            retry = []
            for item, outcome in zip(sendable, _results(kind, sendable, results), strict=True):
                if fallback and outcome["state"] == "FAILED":
                    retry.append(item)
                else:
                    done.append(outcome)
            reason = f"{len(retry)} failed insert(s)"
        if retry:
            log.warning("BULK write batch to %s ended due to %s. Will fall back to SOAP", mapping.object_name, reason)
            tally.fallback += len(retry)
            self._send_soap(mapping, kind, retry, done, tally, pending)

    # ---- recording ---------------------------------------------------------------------------------

    def _finish(self, outcomes, pending, tally=None):
        """Write results back the way Connect does: no echo, sfid and _hc_lastop on the row, state on the log.

        A record the org could not lock (UNABLE_TO_LOCK_ROW) is not a refusal: its change stays queued,
        and OrgUnavailable (raised once the rest is written) backs the engine off before it is sent again.
        """
        locked = [o for o in outcomes if _refusal_code(o) in RETRIED_CODES]
        outcomes = [o for o in outcomes if _refusal_code(o) not in RETRIED_CODES]
        if not outcomes:
            if locked:
                raise OrgUnavailable(f"the org could not lock {len(locked)} record(s) (UNABLE_TO_LOCK_ROW)")
            return
        write_backs, finished, pushed = {}, {"id": [], "state": [], "result": [], "message": []}, {}
        for o in outcomes:
            row = o["row"]
            mapping = self.engine.by_table.get(row["table_name"])
            if mapping is not None and row["action"] != "DELETE" and (o["lastop"] or o["state"] == "FAILED"):
                back = write_backs.setdefault(mapping.table, {"record_id": [], "sfid": [], "lastop": [], "err": []})
                back["record_id"].append(row["record_id"])
                back["sfid"].append(o["sfid"])
                back["lastop"].append(connect.FAILED if o["state"] == "FAILED" else o["lastop"])
                back["err"].append(o["err"])
            for log_id, log_state in [(row["id"], o["state"])] + [(m, connect.LOG_MERGED) for m in row["merged"]]:
                finished["id"].append(log_id)
                finished["state"].append(log_state)
                finished["result"].append(1 if log_state == connect.LOG_FAILED else 0)
                finished["message"].append(o["message"] if log_state != connect.LOG_MERGED else None)
            if mapping is not None and o["state"] == connect.LOG_SUCCESS:
                pushed[mapping.object_name] = pushed.get(mapping.object_name, 0) + 1
            if tally is not None:
                tally.rows += 1 + len(row["merged"])
                tally.merged += len(row["merged"])
                tally.failed += o["state"] == connect.LOG_FAILED
                tally.record(o)
        with self.conn.transaction(), self.conn.cursor() as cur:
            writes.write_as_connect(cur)
            for table, params in write_backs.items():
                cur.execute(sql.SQL(WRITE_BACK).format(table=sql.Identifier(self.engine.schema, table)), params)
            cur.execute(sql.SQL(FINISH).format(s=self.s), finished)
            for object_name, count in pushed.items():
                cur.execute(sql.SQL(COUNT_PUSHED).format(state=sql.Identifier(state.SCHEMA)),
                            {"n": count, "object": object_name})
        pending.difference_update(finished["id"])
        if locked:
            raise OrgUnavailable(f"the org could not lock {len(locked)} record(s) (UNABLE_TO_LOCK_ROW)")

    def _log(self, tallies):
        """One line per mapping a push touched, so a learner watching `make run` sees each change leave."""
        for object_name, t in tallies.items():
            if not t.rows:  # the org stopped answering first: the rows went back to NEW, the engine says why
                continue
            records = sum(t.done.values())
            extra = ", ".join(p for p in (
                f"{t.merged} merged" if t.merged else "",
                f"{t.api_calls} API calls" if t.api_calls > 1 else "",
                f"bulk: {t.bulk_batches} batch{'es' if t.bulk_batches != 1 else ''}" if t.bulk_batches else "",
            ) if p)
            words = hop_lines.push(object_name, rows=t.rows, seconds=t.seconds, done=t.done,
                                   one=t.first if records == 1 else None, failure=t.failure, extra=extra)
            logs.event(log, words, level=logging.WARNING if t.failed else logging.INFO, mapping=object_name,
                       algorithm=self.settings.algorithm, api="+".join(t.apis) or "none", rows=t.rows,
                       merged=t.merged, api_calls=t.api_calls, bulk_batches=t.bulk_batches,
                       soap_fallback=t.fallback, failed=t.failed, duration_ms=round(t.seconds * 1000))


# ---- the two algorithms --------------------------------------------------------------------------

def _merged(rows):
    """Merged Writes: one write per record — the newest log row carries the condensed change."""
    groups = {}
    for row in rows:
        groups.setdefault((row["table_name"], row["record_id"]), []).append(row)
    out = []
    for group in groups.values():
        last = group[-1]
        carrier = {**last, "merged": [r["id"] for r in group[:-1]]}
        if last["action"] != "DELETE" and len(group) > 1:
            values = {}
            for r in group:
                values.update(r["values"] or {})
            carrier.update(values=values, old=group[0]["old"],
                           action="INSERT" if group[0]["action"] == "INSERT" else "UPDATE",
                           sfid=next((r["sfid"] for r in group if r["sfid"]), None))
        out.append(carrier)
    return sorted(out, key=lambda r: r["merged"][0] if r["merged"] else r["id"])


def _ordered_runs(rows):
    """Ordered Writes: trigger-log order kept — consecutive changes of one action to one table, no record twice."""
    runs, current, seen = [], [], set()
    for row in rows:
        key = (row["table_name"], row["record_id"])
        if current and (row["table_name"], row["action"]) != (current[-1]["table_name"], current[-1]["action"]) \
                or key in seen:
            runs.append(current)
            current, seen = [], set()
        current.append({**row, "merged": []})
        seen.add(key)
    if current:
        runs.append(current)
    return runs


def _kind(mapping, row, sfid_now):
    """How a change is sent: delete, update by Id, or (no sfid yet) upsert — create without an upsert field."""
    sfid = sfid_now or row["sfid"] or (row["old"] or {}).get("sfid")
    if row["action"] == "DELETE":
        return "delete", sfid
    if row["action"] == "INSERT" or not sfid:
        return ("upsert" if mapping.upsert_field else "insert"), sfid
    return "update", sfid


def _collections_call(mapping, kind, records):
    """The sObject Collections request for one kind: (path, keyword arguments for `sf.restful`)."""
    body = {"allOrNone": False, "records": records}
    if kind == "delete":
        return "composite/sobjects", {"method": "DELETE", "params": {
            "ids": ",".join(r["Id"] for r in records), "allOrNone": "false"}}
    if kind == "update":
        return "composite/sobjects", {"method": "PATCH", "json": body}
    if kind == "insert":
        return "composite/sobjects", {"method": "POST", "json": body}
    return f"composite/sobjects/{mapping.object_name}/{mapping.upsert_field}", {"method": "PATCH", "json": body}


def _results(kind, sendable, results):
    """An outcome per sent row from a collections or bulk answer (one result per record, in order)."""
    outcomes = []
    for (row, sfid), result in zip(sendable, results, strict=True):
        if kind == "delete":
            errors = result.get("errors") or []
            gone = not result["success"] and errors and errors[0].get("statusCode") == "ENTITY_IS_DELETED"
            ok = result["success"] or gone
            outcomes.append(_outcome(row, "SUCCESS" if ok else "FAILED", None if ok else errors))
        elif result["success"]:
            created = result.get("created", kind != "update" and not sfid)
            outcomes.append(_outcome(row, "SUCCESS", None, sfid=result["id"],
                                     lastop=connect.INSERTED if created else connect.UPDATED))
        else:
            outcomes.append(_outcome(row, "FAILED", result["errors"]))
    return outcomes


def _refusal_code(outcome) -> str | None:
    """The statusCode of a refused record's outcome (its message starts with it), else None."""
    return (outcome["message"] or "").partition(":")[0] if outcome["state"] == connect.LOG_FAILED else None


def _outcome(row, result_state, errors, *, sfid=None, lastop=None):
    if isinstance(errors, str):
        errors = [{"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": errors}]
    message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) if errors else None
    err = json.dumps({"op": row["action"], "src": "SFDC", "msg": errors[0].get("message"), "errors": errors}) \
        if errors else None
    row.setdefault("merged", [])
    return {"row": row, "state": result_state, "message": message, "err": err, "sfid": sfid, "lastop": lastop}


def _requests(sf):
    """A one-item list counting the HTTP requests this client has sent (a hook on its session, installed once)."""
    counter = getattr(sf.session, "_connect_requests", None)
    if counter is None:
        counter = [0]
        sf.session._connect_requests = counter

        def count(response, *args, **kwargs):
            counter[0] += 1

        sf.session.hooks["response"].append(count)
    return counter
