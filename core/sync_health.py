"""What the sync health console shows, read only from what Heroku Connect leaves in Postgres.

Per mapping: rows, the latest change synced, its lag as Connect measures it — the time since the
mapping last polled Salesforce, and the age of the oldest change waiting in the trigger log — the
backlog, write errors (rows whose `_hc_lastop` is FAILED, and FAILED trigger-log rows of the last
24 hours, as `heroku connect:write-errors` lists them), and a history of samples for the chart.
The plan's row cap is known from CONNECT_PLAN: the rows of all mappings are counted against it.
Connect's own state — the connection's, each mapping's, the API calls it spent — is not in
Postgres: it comes from a `core.connect_info.ConnectInfo`, which on Heroku says "unknown" and
points at `heroku connect:info`. So does each mapping's last poll: without it the lag is unknown,
never guessed from the newest SystemModstamp (which only says when a record last changed in
Salesforce: for a quiet object, days ago, however well Connect keeps up).
"""

from datetime import UTC, datetime

from psycopg import sql

from core import connect, connect_info, trigger_log

# Exact counts up to this many rows; above, the planner's estimate (counting a million rows on
# every page view would make the console the heaviest page of the app).
EXACT_COUNT_LIMIT = 100_000
SAMPLE_RETENTION = "7 days"

ESTIMATED_ROWS = """
SELECT reltuples::bigint AS n FROM pg_class WHERE oid = to_regclass(format('%%I.%%I', %s::text, %s::text))
"""
LAST_CHANGE = "SELECT max(systemmodstamp) AS at FROM {t}"
# With each row: whether its retry is already on its way (core/trigger_log.py: RETRYING).
FAILED_ROWS = """
SELECT r.id, r.sfid, r._hc_err, {retrying} AS retrying FROM {t} r WHERE r._hc_lastop = {failed} ORDER BY r.id LIMIT %s
"""
FAILED_COUNT = "SELECT count(*) AS n FROM {t} WHERE _hc_lastop = {failed}"
SAMPLE = """
INSERT INTO {a}.sync_health_samples (object_name, backlog, oldest_pending_age_s, failed, lag_s)
VALUES (%s, %s, %s, %s, %s)
"""
PRUNE = "DELETE FROM {a}.sync_health_samples WHERE taken_at < now() - %s::interval"
HISTORY = """
SELECT date_trunc('minute', taken_at) AS minute, sum(backlog) AS backlog, max(oldest_pending_age_s) AS lag_s,
       sum(failed) AS failed
FROM {a}.sync_health_samples WHERE taken_at > now() - %s::interval
GROUP BY 1 ORDER BY 1
"""


def _table_exists(conn, schema: str, table: str) -> bool:
    return conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL AS ok",
                        (schema, table)).fetchone()["ok"]


def row_count(conn, schema: str, table: str) -> tuple[int, bool]:
    """(rows, exact): exact below EXACT_COUNT_LIMIT, the planner's estimate above."""
    estimate = conn.execute(ESTIMATED_ROWS, (schema, table)).fetchone()
    if estimate and estimate["n"] is not None and estimate["n"] > EXACT_COUNT_LIMIT:
        return estimate["n"], False
    n = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(schema, table))).fetchone()["n"]
    return n, True


def rows_used(conn, schema: str) -> int:
    """Synced rows across all mappings, as a Connect plan's row cap counts them."""
    return sum(row_count(conn, schema, m.table)[0] for m in connect.mappings().values()
               if _table_exists(conn, schema, m.table))


def plan_usage(plan_name: str, mappings: list[dict]) -> dict:
    """The plan (CONNECT_PLAN), its row cap (None: no cap) and the rows of all mappings (mapping_health) against it."""
    rules = connect.plan(plan_name)
    used = sum(m["rows"] for m in mappings if not m["missing"])
    return {"plan": rules.name, "rows_used": used, "row_cap": rules.row_cap,
            "over_cap": rules.row_cap is not None and used > rules.row_cap}


def mapping_health(conn, schema: str, *, failed_limit: int = 20,
                   info: connect_info.ConnectInfo | None = None) -> list[dict]:
    """One entry per mapping, in mapping-file order; its state and API calls as far as `info` knows them."""
    now = datetime.now(UTC)
    backlog = trigger_log.backlog(conn, schema)
    refused = sql.Literal(connect.FAILED)
    known = info.mappings(conn) if info else {}
    result = []
    for mapping in connect.mappings().values():
        t = sql.Identifier(schema, mapping.table)
        if not _table_exists(conn, schema, mapping.table):
            result.append({"object_name": mapping.object_name, "table": mapping.table, "missing": True})
            continue
        rows, exact = row_count(conn, schema, mapping.table)
        waiting = backlog.get(mapping.table)
        oldest = waiting["oldest"] if waiting else None
        failed_rows, failed = [], 0
        if mapping.read_write:
            failed = conn.execute(sql.SQL(FAILED_COUNT).format(t=t, failed=refused)).fetchone()["n"]
            listed = sql.SQL(FAILED_ROWS).format(t=t, failed=refused,
                                                 retrying=trigger_log.retrying(schema, mapping.table, "r"))
            failed_rows = [{**r, "message": connect.error_message(r["_hc_err"])}
                           for r in conn.execute(listed, (failed_limit,))]
        last_write = trigger_log.last_write(conn, schema, mapping.table)
        reported = known.get(mapping.object_name, {})
        last_change = conn.execute(sql.SQL(LAST_CHANGE).format(t=t)).fetchone()["at"]
        polled_at = reported.get("polled_at")
        result.append({
            "object_name": mapping.object_name,
            "table": mapping.table,
            "access": mapping.access,
            "missing": False,
            "rows": rows,
            "rows_exact": exact,
            "last_change": last_change,
            "last_write": last_write,
            "polled_at": polled_at,
            # Connect's lag for reads: time since the mapping's last poll (None: not polled yet, or not known).
            "lag_s": max(0.0, (now - polled_at).total_seconds()) if polled_at else None,
            "backlog": waiting["backlog"] if waiting else 0,
            "oldest_pending_age_s": (now - oldest).total_seconds() if oldest else None,
            "failed": failed,
            "failed_rows": failed_rows,
            "state": reported.get("state"),
            "api_calls_today": reported.get("api_calls_today"),
            "health": "errors" if failed else ("backlog" if waiting else "ok"),
        })
    return result


def connection(conn, info: connect_info.ConnectInfo) -> dict:
    """The connection's state and the org's API use as far as `info` knows them."""
    return info.connection(conn)


def take_sample(conn, schema: str, app_schema: str, info: connect_info.ConnectInfo | None = None) -> int:
    """Record every mapping's backlog, oldest waiting change, errors and lag (where `info` knows its last poll);
    prune old samples."""
    a = sql.Identifier(app_schema)
    health = [m for m in mapping_health(conn, schema, failed_limit=0, info=info) if not m["missing"]]
    with conn.transaction():
        for m in health:
            conn.execute(sql.SQL(SAMPLE).format(a=a),
                         (m["object_name"], m["backlog"], m["oldest_pending_age_s"], m["failed"], m["lag_s"]))
        conn.execute(sql.SQL(PRUNE).format(a=a), (SAMPLE_RETENTION,))
    return len(health)


def history(conn, app_schema: str, window: str = "24 hours") -> list[dict]:
    """Samples per minute over the window: total backlog, worst lag, total failures."""
    return conn.execute(sql.SQL(HISTORY).format(a=sql.Identifier(app_schema)), (window,)).fetchall()


def chart(samples: list[dict]) -> dict | None:
    """The history chart's numbers (None without samples); web/templates/ops/_chart.html draws them.

    Each series is its samples as (time, value) fractions of the chart's axes, 0 to 1, with its
    maximum for the label; `start` and `end` are the first and last minute, in UTC.
    """
    if not samples:
        return None
    times = [s["minute"].timestamp() for s in samples]
    t0 = min(times)
    # One sample still needs a time axis: give it a minute's width.
    span = (max(times) - t0) or 60.0

    def series(key):
        values = [float(s[key] or 0) for s in samples]
        top = max(values)
        return {"max": top,
                "points": [((t - t0) / span, v / top if top else 0.0) for t, v in zip(times, values, strict=True)]}

    return {"backlog": series("backlog"), "lag": series("lag_s"),
            "start": samples[0]["minute"].astimezone(UTC), "end": samples[-1]["minute"].astimezone(UTC)}
