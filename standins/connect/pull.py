"""The local Connect's reads (Salesforce → Postgres), as Heroku Connect reads.

A mapping is read when it is due: every `sf_polling_seconds` (Connect: 2–60 minutes; the demo plan:
at least 10), divided by LOCAL_CONNECT_TIME_SCALE on a laptop, or at once when the org says the
object changed and the mapping has `sf_notify_enabled` (accelerated polling). A read is:

1. changes (mapping state POLLING_SF_CHANGES): SOQL by (SystemModstamp, Id) in keyset pages of
   PULL_PAGE, so records sharing a timestamp are neither missed nor repeated. It starts a little
   behind the watermark (DRIFT before the previous read began): a record committed late with an
   older SystemModstamp is still read; what is read again unchanged is skipped. Above
   BULK_THRESHOLD changed records, one Bulk API 2.0 query job instead (POLLING_SF_BULK). Rows are
   matched by sfid, then by the upsert field, else inserted; written as Connect writes (SYNCED).
2. deletes (POLLING_SF_FOR_DELETES): the org's getDeleted since the last pass; the rows are deleted
   from Postgres — hard deletes, as Connect does.
3. the plan's row cap: a page that would take the synced rows of all mappings over it is not
   written; the connection goes to TOO_MANY_ROWS and the read stops with the watermark where it
   was. Nothing is lost: once the cap is raised (CONNECT_PLAN=enterprise) the next read carries on.
Each read that brings something logs one line (standins/connect/hop_lines.py): what arrived in words
(`Contact ann@example.com ← Salesforce: updated (poll, 1 row, 0.05 s)`), then the facts as logfmt
pairs (mapping, rows, API calls, bulk batches, deletes, duration). A read that finds nothing is DEBUG.
"""

import csv
import io
import logging
import os
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from psycopg import sql

from core import config, connect, logs, sync_health
from standins.connect import hop_lines, state, writes
from standins.org import store

log = logging.getLogger(__name__)
PULL_PAGE = 2000
# Connect switches to the Bulk API above this many changed records.
BULK_THRESHOLD = 10_000
# How far behind the previous read each read starts again: longer than the org's slowest commit.
DRIFT = timedelta(seconds=60)
# The laptop speed-up: every polling interval is divided by it (`make run` sets 300: 10 min → 2 s).
TIME_SCALE_VARIABLE = "LOCAL_CONNECT_TIME_SCALE"
# The org's getDeleted reaches back 15 days (the recycle bin); a first pass asks for less.
DELETES_REACH = timedelta(days=14)

# The read's own marks, beside the engine's (state.py): when the last change query began, in the
# org's time, and how far the last getDeleted pass covered.
DDL = """
ALTER TABLE {s}.mapping_state ADD COLUMN IF NOT EXISTS changes_read_at timestamp;
ALTER TABLE {s}.mapping_state ADD COLUMN IF NOT EXISTS deletes_read_to timestamp;
"""
# ALTER TABLE takes an exclusive lock even when the columns exist: only run it when they do not.
HAS_MARKS = """
SELECT count(*) = 2 AS ok FROM information_schema.columns
 WHERE table_schema = %s AND table_name = 'mapping_state' AND column_name IN ('changes_read_at', 'deletes_read_to')
"""
MAPPING_STATES = "SELECT object_name, state, last_poll_at FROM {s}.mapping_state"
POLLED = "UPDATE {s}.mapping_state SET last_poll_at = %s, state = 'DATA_SYNCED' WHERE object_name = %s"
POLL_STOPPED = "UPDATE {s}.mapping_state SET last_poll_at = %s, state = %s WHERE object_name = %s"
READ_BEGAN = "UPDATE {s}.mapping_state SET changes_read_at = %s WHERE object_name = %s"
DELETES_READ = "UPDATE {s}.mapping_state SET deletes_read_to = %s WHERE object_name = %s"
# The watermark only moves forward: a re-read of the drift window must not move it back.
ADVANCE = """
UPDATE {s}.mapping_state SET rows_pulled = rows_pulled + %(n)s,
       last_sync_at = CASE WHEN %(n)s > 0 THEN now() ELSE last_sync_at END,
       watermark_ts = CASE WHEN watermark_ts IS NULL OR (watermark_ts, watermark_id) < (%(ts)s, %(id)s)
                           THEN %(ts)s ELSE watermark_ts END,
       watermark_id = CASE WHEN watermark_ts IS NULL OR (watermark_ts, watermark_id) < (%(ts)s, %(id)s)
                           THEN %(id)s ELSE watermark_id END
 WHERE object_name = %(object)s
"""
EXISTING = """
SELECT id, sfid, _hc_lastop, systemmodstamp, {ext} AS ext FROM {t} WHERE sfid = ANY(%s) OR {ext} = ANY(%s)
"""
HARD_DELETE = "DELETE FROM {t} WHERE sfid = ANY(%s)"
PRUNE_ARCHIVE = "DELETE FROM {s}._trigger_log_archive WHERE created_at < now() - make_interval(days => %s)"


class RowCapReached(Exception):
    """Writing a page would take the synced rows over the plan's cap: the connection is TOO_MANY_ROWS."""


@dataclass
class Reader:
    """How one engine reads: the plan's rules, the laptop speed-up, and the change notices received."""

    plan: connect.Plan = field(default_factory=lambda: connect.plan("demo"))
    time_scale: float = 1.0
    bulk_threshold: int = BULK_THRESHOLD
    drift: timedelta = DRIFT
    noticed: set = field(default_factory=set)
    blocked: str | None = None  # the mapping stopped at the row cap (TOO_MANY_ROWS)

    def interval(self, mapping) -> float:
        """Seconds between two reads of a mapping: its sf_polling_seconds within the plan's rules, scaled."""
        return connect.polling_seconds(mapping, self.plan) / self.time_scale


@dataclass(frozen=True)
class Poll:
    """What one read of a mapping did (its log line)."""

    mapping: str
    rows: int = 0
    deletes: int = 0
    api_calls: int = 0
    bulk_batches: int = 0
    duration_ms: int = 0
    outcome: str = "ok"


@dataclass(frozen=True)
class Polled:
    """What poll_due did: the connection's state after it, the seconds until a mapping is due, the reads."""

    state: str
    wait: float
    polls: tuple = ()
    detail: str | None = None


_readers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _q(statement: str, **identifiers) -> sql.Composed:
    return sql.SQL(statement).format(s=sql.Identifier(state.SCHEMA), **identifiers)


def configure(engine, **settings) -> Reader:
    """Set how `engine` reads (plan, time_scale, bulk_threshold, drift); the rest keep their defaults."""
    before = _readers.get(engine)
    reader = Reader(**settings)
    if before is not None:  # a new plan keeps what the engine was in the middle of
        reader.noticed, reader.blocked = before.noticed, before.blocked
    if not engine.conn.execute(HAS_MARKS, (state.SCHEMA,)).fetchone()["ok"]:
        engine.conn.execute(_q(DDL))
    _readers[engine] = reader
    return reader


def reader_of(engine) -> Reader:
    """The engine's Reader (the demo plan, real time, unless configured)."""
    return _readers.get(engine) or configure(engine)


def stopped(engine) -> bool:
    """Whether the sync is stopped at the plan's row cap (TOO_MANY_ROWS): then nothing is sent either."""
    reader = _readers.get(engine)
    return bool(reader and reader.blocked)


def time_scale(env=os.environ) -> float:
    """LOCAL_CONNECT_TIME_SCALE: how many times faster than Connect the local one polls (default 1)."""
    raw = env.get(TIME_SCALE_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        raise config.ConfigError(f"{TIME_SCALE_VARIABLE} must be a number; got {raw!r}") from None
    if not value > 0:
        raise config.ConfigError(f"{TIME_SCALE_VARIABLE} must be positive; got {raw!r}")
    return value


def start(engine, cfg) -> Reader:
    """`python -m standins.connect`: read under CONNECT_PLAN, scaled by LOCAL_CONNECT_TIME_SCALE, and with
    the local org (LOCAL_ORG_URL set) listen to its change notifications; a real org's are not subscribed."""
    reader = configure(engine, plan=connect.plan(cfg.connect_plan), time_scale=time_scale())
    if cfg.salesforce.local_url:
        listen(engine, store.changes_channel(os.environ.get("LOCAL_ORG_SCHEMA", "local_org")))
    return reader


def listen(engine, channel: str) -> None:
    """Take the org's change notifications (payload: an object name) on the engine's own connection."""
    reader_of(engine)
    engine.conn.add_notify_handler(lambda notice: _readers[engine].noticed.add(notice.payload))
    engine.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))


# ---- when ------------------------------------------------------------------------------------------


def poll_due(engine, now: datetime) -> Polled:
    """Read every mapping whose interval has passed at `now` (or the org said it changed, if it listens).

    Stopped at the row cap (TOO_MANY_ROWS), only the mapping that reached it is tried again, at its
    interval; the others wait until it gets through (the cap raised, or rows freed).
    """
    reader = reader_of(engine)
    marks = {r["object_name"]: r for r in engine.conn.execute(_q(MAPPING_STATES))}  # also takes in notices
    noticed, reader.noticed = reader.noticed, set()
    polls = []
    for mapping in sorted(engine.mappings.values(), key=lambda m: m.object_name != reader.blocked):
        if reader.blocked and mapping.object_name != reader.blocked:
            break
        last = (marks.get(mapping.object_name) or {}).get("last_poll_at")
        notified = mapping.notify_enabled and mapping.object_name in noticed
        # A last read "in the future" (the clock set back, or a simulated one) does not hold reads back.
        if last is not None and not notified and last <= now < last + timedelta(seconds=reader.interval(mapping)):
            continue
        poll = read(engine, mapping.object_name, now)
        polls.append(poll)
        marks[mapping.object_name] = {"last_poll_at": now}
        reader.blocked = mapping.object_name if poll.outcome == "TOO_MANY_ROWS" else None
    if polls:
        prune_archive(engine)
    connection_state, detail = ("TOO_MANY_ROWS", _cap_detail(reader.plan)) if reader.blocked else ("IDLE", None)
    if reader.blocked:
        state.set_connection_state(engine.conn, connection_state, detail)
    return Polled(connection_state, _next_due(engine, reader, marks, now), tuple(polls), detail)


def _next_due(engine, reader, marks, now) -> float:
    waits = []
    for mapping in engine.mappings.values():
        if reader.blocked and mapping.object_name != reader.blocked:
            continue  # waits for the blocked one
        last = (marks.get(mapping.object_name) or {}).get("last_poll_at")
        if last is None or last > now:
            return 0.0
        waits.append((last + timedelta(seconds=reader.interval(mapping)) - now).total_seconds())
    return max(0.0, min(waits, default=0.0))


def _cap_detail(plan) -> str:
    return (f"the {plan.name} plan syncs at most {plan.row_cap:,} rows across all mappings: sync is stopped, "
            "changes wait in Salesforce and the trigger log (raise the plan to carry on)")


def prune_archive(engine) -> int:
    """Drop archived trigger-log rows older than the plan keeps them (demo 7 days, else 31)."""
    days = reader_of(engine).plan.archive_days
    return engine.conn.execute(sql.SQL(PRUNE_ARCHIVE).format(s=engine.s), (days,)).rowcount


# ---- one read --------------------------------------------------------------------------------------


def pull_once(engine, object_name: str, now: datetime | None = None) -> int:
    """Read one mapping now; return how many records were written to Postgres."""
    return read(engine, object_name, now).rows


def read(engine, object_name: str, now: datetime | None = None) -> Poll:
    """Read one mapping's changes, then its deletes; log one line; return what it did."""
    reader = reader_of(engine)
    mapping = engine.mappings[object_name]
    started = time.monotonic()
    # For the line's words too: rows written by kind, and the first one's name.
    tally = {"rows": 0, "api_calls": 0, "bulk_batches": 0, "inserted": 0, "updated": 0, "first": None}
    mark = state.mapping_row(engine.conn, object_name)
    deletes, outcome, now = 0, "ok", now or datetime.now(UTC)
    try:
        _read_changes(engine, reader, mapping, mark, tally)
        deletes = _read_deletes(engine, mapping, mark, tally)
        engine.conn.execute(_q(POLLED), (now, object_name))
    except RowCapReached:
        # Tried, and stopped at the cap: due again after the interval, in the state it was in.
        outcome = "TOO_MANY_ROWS"
        engine.conn.execute(_q(POLL_STOPPED), (now, mark["state"], object_name))
    poll = Poll(object_name, tally["rows"], deletes, tally["api_calls"], tally["bulk_batches"],
                int((time.monotonic() - started) * 1000), outcome)
    # A read that found nothing is DEBUG: `make run` reads every mapping every few seconds, and a
    # learner watching it should see the changes that arrive, not seven empty reads each time.
    quiet = poll.rows == 0 and poll.deletes == 0 and poll.outcome == "ok"
    words = hop_lines.pull(object_name, how="bulk query" if poll.bulk_batches else "poll", rows=poll.rows,
                           deletes=poll.deletes, seconds=poll.duration_ms / 1000,
                           done={"inserted": tally["inserted"], "updated": tally["updated"]}, one=tally["first"],
                           stopped=None if poll.outcome == "ok" else poll.outcome)
    level = logging.DEBUG if quiet else logging.WARNING if poll.outcome != "ok" else logging.INFO
    logs.event(log, words, level=level, mapping=poll.mapping,
               rows=poll.rows, api_calls=poll.api_calls,
               bulk_batches=poll.bulk_batches, deletes=poll.deletes, duration_ms=poll.duration_ms,
               outcome=poll.outcome)
    return poll


def _call(engine, tally, object_name, fn, *args, **kwargs):
    tally["api_calls"] += 1
    return engine.call(object_name, fn, *args, **kwargs)


def _read_changes(engine, reader, mapping, mark, tally) -> None:
    """Every record changed since the read's start, written page by page (tally["rows"]: how many)."""
    name = mapping.object_name
    fields = engine.fields(mapping)
    began = _org_now()
    start = _start(mark, reader.drift)
    if mark["state"] != "RELOAD_TABLE":  # a reload's refill shows as the reload until it is done
        state.set_mapping_state(engine.conn, name, "POLLING_SF_CHANGES")
    records = _call(engine, tally, name, engine.sf.query, poll_query(mapping, *start))["records"]
    if len(records) == PULL_PAGE or len(records) > reader.bulk_threshold:
        after = (mark["watermark_ts"], mark["watermark_id"])
        changed = _call(engine, tally, name, engine.sf.query, count_query(mapping, *after))["totalSize"]
        if changed > reader.bulk_threshold:
            _read_bulk(engine, mapping, fields, start, tally)
            engine.conn.execute(_q(READ_BEGAN), (began, name))
            return
    while records:
        tally["rows"] += _apply(engine, mapping, fields, records, tally)
        if len(records) < PULL_PAGE:
            break
        last = records[-1]
        records = _call(engine, tally, name, engine.sf.query,
                        poll_query(mapping, to_postgres({"type": "datetime"}, last["SystemModstamp"]),
                                   last["Id"]))["records"]
    engine.conn.execute(_q(READ_BEGAN), (began, name))


def _start(mark, drift):
    """Where a read starts: the watermark, or DRIFT before the previous read began if that is earlier."""
    ts, record_id = mark["watermark_ts"], mark["watermark_id"]
    read_at = mark.get("changes_read_at")
    if ts is None:
        return None, ""
    if read_at is not None and read_at - drift < ts:
        return read_at - drift, ""
    return ts, record_id


def _read_bulk(engine, mapping, fields, start, tally) -> None:
    """One Bulk API 2.0 query job for every change since `start`, written in pages in (SystemModstamp, Id) order."""
    name = mapping.object_name
    state.set_mapping_state(engine.conn, name, "POLLING_SF_BULK")
    soql = changes_soql(mapping, *start)
    pages = _call(engine, tally, name, lambda: list(getattr(engine.sf.bulk2, name).query(soql, wait=0.5)))
    tally["bulk_batches"] += len(pages)
    by_name = {f["name"]: f for f in fields.values()}
    records = [{k: from_csv(by_name.get(k), v) for k, v in row.items()}
               for page in pages for row in csv.DictReader(io.StringIO(page))]
    records.sort(key=lambda r: (to_postgres({"type": "datetime"}, r["SystemModstamp"]), r["Id"]))
    for at in range(0, len(records), PULL_PAGE):
        tally["rows"] += _apply(engine, mapping, fields, records[at:at + PULL_PAGE], tally)


def _read_deletes(engine, mapping, mark, tally) -> int:
    """The org's getDeleted since the last pass: those rows deleted from Postgres (hard deletes)."""
    name = mapping.object_name
    state.set_mapping_state(engine.conn, name, "POLLING_SF_FOR_DELETES")
    now = _org_now()
    start = max(mark.get("deletes_read_to") or now - DELETES_REACH, now - DELETES_REACH)
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)  # to the minute, as Salesforce counts
    found = _call(engine, tally, name, getattr(engine.sf, name).deleted, start.replace(tzinfo=UTC),
                  end.replace(tzinfo=UTC))
    ids = [r["id"] for r in found["deletedRecords"]]
    removed = 0
    with engine.conn.transaction():
        if ids:
            writes.write_as_connect(engine.conn)
            removed = engine.conn.execute(sql.SQL(HARD_DELETE).format(
                t=sql.Identifier(engine.schema, mapping.table)), (ids,)).rowcount
        covered = to_postgres({"type": "datetime"}, found["latestDateCovered"])
        engine.conn.execute(_q(DELETES_READ), (covered, name))
    return removed


def _org_now() -> datetime:
    """Now as the org stamps records: UTC without time zone (the local org shares this clock)."""
    return datetime.now(UTC).replace(tzinfo=None)


# ---- writing ---------------------------------------------------------------------------------------


def _apply(engine, mapping, fields, records, tally=None) -> int:
    """Write one page of org records as Connect does and move the watermark, in one transaction.

    Return how many rows were written (a record read again unchanged is skipped). RowCapReached
    (nothing of the page kept) when the page would take the synced rows over the plan's cap.
    `tally` (the read's) gets the rows written by kind and the first one's name, for the log line.
    """
    conn, table = engine.conn, sql.Identifier(engine.schema, mapping.table)
    ext_column = connect.column_name(mapping.upsert_field) if mapping.upsert_field else None
    cap = reader_of(engine).plan.row_cap
    with conn.transaction():
        writes.write_as_connect(conn)
        ids = [r["Id"] for r in records]
        ext_values = [r.get(mapping.upsert_field) for r in records if mapping.upsert_field]
        existing = conn.execute(sql.SQL(EXISTING).format(
            t=table, ext=sql.Identifier(ext_column) if ext_column else sql.SQL("NULL::text")),
            (ids, [v for v in ext_values if v])).fetchall()
        by_sfid = {r["sfid"]: r for r in existing if r["sfid"]}
        by_ext = {r["ext"]: r for r in existing if r["ext"] and not r["sfid"]}
        columns = list(fields)
        updates, inserts = [], []
        for record in records:
            values = {c: to_postgres(fields[c], record.get(fields[c]["name"])) for c in columns}
            match = by_sfid.get(record["Id"]) or (by_ext.get(record.get(mapping.upsert_field))
                                                  if mapping.upsert_field else None)
            if match and match["_hc_lastop"] == connect.PENDING:
                # An app change not yet sent: it will overwrite Salesforce (last writer wins), and the
                # next poll brings the result back. Overwriting it now would hide it from the user.
                continue
            if match and match["sfid"] and match["systemmodstamp"] == values.get("systemmodstamp"):
                continue  # read again (the drift window), unchanged
            if match:
                updates.append({**values, "_row_id": match["id"]})
            else:
                inserts.append(values)
            if tally is not None and tally["first"] is None:
                tally["first"] = (hop_lines.name_of(record, rest=True), "updated" if match else "inserted")
        with conn.cursor() as cur:
            if updates:
                assignments = sql.SQL(", ").join(sql.SQL("{} = %({})s").format(sql.Identifier(c), sql.SQL(c))
                                                 for c in columns)
                cur.executemany(sql.SQL("UPDATE {} SET {}, _hc_lastop = NULL WHERE id = %(_row_id)s").format(
                    table, assignments), updates)
            if inserts:
                cur.executemany(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    table, sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.SQL("%({})s").format(sql.SQL(c)) for c in columns)), inserts)
        written = len(updates) + len(inserts)
        if cap is not None and len(existing) < len(records) and sync_health.rows_used(conn, engine.schema) > cap:
            raise RowCapReached(mapping.object_name)
        if tally is not None:
            tally["inserted"] += len(inserts)
            tally["updated"] += len(updates)
        last = records[-1]
        conn.execute(_q(ADVANCE), {"n": written, "ts": to_postgres({"type": "datetime"}, last["SystemModstamp"]),
                                   "id": last["Id"], "object": mapping.object_name})
    return written


# ---- SOQL and values -------------------------------------------------------------------------------


def _soql_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _after(watermark_ts, watermark_id) -> str:
    """The WHERE clause for records after (SystemModstamp, Id); an empty Id means from that time on."""
    if watermark_ts is None:
        return ""
    ts = _soql_datetime(watermark_ts)
    if not watermark_id:
        return f" WHERE SystemModstamp >= {ts}"
    return f" WHERE SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{watermark_id}')"


def changes_soql(mapping, watermark_ts, watermark_id) -> str:
    """SOQL for every mapped field of the records after (SystemModstamp, Id)."""
    return ("SELECT " + ", ".join(mapping.fields) + " FROM " + mapping.object_name  # noqa: S608 (SOQL, not SQL)
            + _after(watermark_ts, watermark_id))


def poll_query(mapping, watermark_ts, watermark_id) -> str:
    """SOQL for the page after (SystemModstamp, Id): records sharing a timestamp are neither missed nor repeated."""
    return changes_soql(mapping, watermark_ts, watermark_id) + f" ORDER BY SystemModstamp, Id LIMIT {PULL_PAGE}"


def count_query(mapping, watermark_ts, watermark_id) -> str:
    """SOQL counting the records changed after (SystemModstamp, Id): above BULK_THRESHOLD, the Bulk API."""
    return "SELECT COUNT() FROM " + mapping.object_name + _after(watermark_ts, watermark_id)  # noqa: S608


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


def from_csv(field: dict | None, text: str):
    """A Bulk API CSV value as the REST API would give it (an empty cell is null)."""
    if text == "" or field is None:
        return text or None
    kind = field["type"]
    if kind == "boolean":
        return text.lower() == "true"
    if kind in ("double", "currency", "percent"):
        return float(text)
    if kind == "int":
        return int(float(text))
    return text
