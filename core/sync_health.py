"""What the sync health console shows, read only from what Heroku Connect leaves in Postgres.

Per mapping: rows, the latest change synced, the trigger-log backlog and the age of its oldest
change, write errors (rows with `_hc_lastop = 'FAILED'` and FAILED trigger-log rows of the last
24 hours, as `heroku connect:write-errors` lists them), and a history of samples for the chart.
Connection state and API usage exist in Postgres only when the local Connect stand-in runs (its
`local_connect` schema); on Heroku they come from `heroku connect:info`, so they read "unknown".
"""

import os
from datetime import UTC, datetime

from psycopg import sql

from core import connect, trigger_log

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
LOCAL_STATE = "SELECT state, detail, updated_at FROM local_connect.connection_state WHERE id = 1"
LOCAL_MAPPINGS = "SELECT object_name, state, api_calls, api_calls_day, last_poll_at FROM local_connect.mapping_state"
LOCAL_USAGE = "SELECT used, max, observed_at FROM local_connect.api_usage WHERE id = 1"
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


def _exists(conn, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (name,)).fetchone()["ok"]


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


def mapping_health(conn, schema: str, *, failed_limit: int = 20) -> list[dict]:
    """One entry per mapping, in mapping-file order."""
    now = datetime.now(UTC)
    backlog = trigger_log.backlog(conn, schema)
    refused = sql.Literal(connect.FAILED)
    local = {}
    if _exists(conn, "local_connect.mapping_state"):
        local = {r["object_name"]: r for r in conn.execute(LOCAL_MAPPINGS)}
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
        engine = local.get(mapping.object_name)
        last_change = conn.execute(sql.SQL(LAST_CHANGE).format(t=t)).fetchone()["at"]
        # systemmodstamp is a UTC timestamp without time zone (Connect's type); processed_at has one.
        synced = [x for x in (last_change and last_change.replace(tzinfo=UTC), last_write) if x]
        result.append({
            "object_name": mapping.object_name,
            "table": mapping.table,
            "access": mapping.access,
            "missing": False,
            "rows": rows,
            "rows_exact": exact,
            "last_change": last_change,
            "last_write": last_write,
            "lag_s": (now - max(synced)).total_seconds() if synced else None,
            "backlog": waiting["backlog"] if waiting else 0,
            "oldest_pending_age_s": (now - oldest).total_seconds() if oldest else None,
            "failed": failed,
            "failed_rows": failed_rows,
            "state": engine["state"] if engine else None,
            "api_calls_today": engine["api_calls"] if engine else None,
            "health": "errors" if failed else ("backlog" if waiting else "ok"),
        })
    return result


def connection(conn, env=None) -> dict:
    """The connection's state and the org's API usage, where Postgres knows them."""
    env = os.environ if env is None else env
    limit = env.get("SF_DAILY_API_LIMIT", "").strip()
    info = {"state": None, "detail": None, "api_used": None, "api_max": int(limit) if limit.isdigit() else None,
            "observed_at": None, "source": "unknown"}
    if _exists(conn, "local_connect.connection_state"):
        row = conn.execute(LOCAL_STATE).fetchone()
        if row:
            info.update(state=row["state"], detail=row["detail"], source="local Connect")
        usage = conn.execute(LOCAL_USAGE).fetchone()
        if usage:
            info.update(api_used=usage["used"], api_max=usage["max"], observed_at=usage["observed_at"])
    return info


def take_sample(conn, schema: str, app_schema: str) -> int:
    """Record every mapping's backlog, oldest waiting change and errors; prune old samples."""
    a = sql.Identifier(app_schema)
    health = [m for m in mapping_health(conn, schema, failed_limit=0) if not m["missing"]]
    with conn.transaction():
        for m in health:
            conn.execute(sql.SQL(SAMPLE).format(a=a),
                         (m["object_name"], m["backlog"], m["oldest_pending_age_s"], m["failed"], m["lag_s"]))
        conn.execute(sql.SQL(PRUNE).format(a=a), (SAMPLE_RETENTION,))
    return len(health)


def history(conn, app_schema: str, window: str = "24 hours") -> list[dict]:
    """Samples per minute over the window: total backlog, worst lag, total failures."""
    return conn.execute(sql.SQL(HISTORY).format(a=sql.Identifier(app_schema)), (window,)).fetchall()


def svg_chart(points: list[dict], width: int = 720, height: int = 180) -> str:
    """An inline SVG line chart of backlog (rows) and lag (seconds) over time, rendered on the server."""
    pad = 36
    if not points:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
                f'aria-label="No samples yet"><text x="{width / 2}" y="{height / 2}" text-anchor="middle">'
                "No samples yet</text></svg>")
    times = [p["minute"].timestamp() for p in points]
    t0, t1 = min(times), max(times) if max(times) > min(times) else min(times) + 60

    def series(key):
        values = [float(p[key] or 0) for p in points]
        top = max(values) or 1.0
        xy = [(pad + (t - t0) / (t1 - t0) * (width - 2 * pad), height - pad - v / top * (height - 2 * pad))
              for t, v in zip(times, values, strict=True)]
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in xy), top

    backlog, backlog_max = series("backlog")
    lag, lag_max = series("lag_s")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Backlog and sync lag over time" class="chart">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
        f'<polyline class="backlog" fill="none" stroke="#5a3fc0" stroke-width="2" points="{backlog}"/>'
        f'<polyline class="lag" fill="none" stroke="#b35c00" stroke-width="2" stroke-dasharray="4 3" points="{lag}"/>'
        f'<text x="{pad}" y="14" font-size="12" fill="#5a3fc0">backlog (max {backlog_max:,.0f} rows)</text>'
        f'<text x="{width - pad}" y="14" font-size="12" fill="#b35c00" text-anchor="end">oldest waiting change '
        f'(max {lag_max:,.0f} s)</text>'
        f'<text x="{pad}" y="{height - 10}" font-size="11">{points[0]["minute"]:%H:%M}</text>'
        f'<text x="{width - pad}" y="{height - 10}" font-size="11" text-anchor="end">{points[-1]["minute"]:%H:%M} UTC'
        "</text></svg>"
    )
