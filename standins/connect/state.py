"""The engine's own state, kept in schema `local_connect` (never in Connect's schema).

Real Connect shows its connection and mapping states through its API and dashboard, not in the
database; the Connect schema holds only what real Connect creates. Locally the sync health console
reads these tables when they exist and shows "unknown" when they do not (as on Heroku).
"""

import re
from datetime import UTC, datetime

from psycopg import sql

SCHEMA = "local_connect"

# Connection states (as `heroku connect:state` names them).
IDLE, POLLING_DB_CHANGES, PAUSED, SYSTEM_ERROR, UNAUTHORIZED = (
    "IDLE", "POLLING_DB_CHANGES", "PAUSED", "SYSTEM_ERROR", "UNAUTHORIZED")
# Mapping states.
INITIAL, DATA_SYNCED, POLLING_SF_CHANGES, POLLING_SF_FOR_DELETES = (
    "INITIAL", "DATA_SYNCED", "POLLING_SF_CHANGES", "POLLING_SF_FOR_DELETES")

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
-- One row: what the engine is doing now, and the last error it met.
CREATE TABLE IF NOT EXISTS {schema}.connection_state (
    id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    state      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);
-- Per mapping: state, polling times, the SystemModstamp watermark, API calls counted today.
CREATE TABLE IF NOT EXISTS {schema}.mapping_state (
    object_name     text PRIMARY KEY,
    state           text NOT NULL,
    last_poll_at    timestamptz,
    last_sync_at    timestamptz,
    watermark_ts    timestamp,
    watermark_id    varchar(18),
    api_calls_today integer NOT NULL DEFAULT 0,
    api_calls_day   date NOT NULL DEFAULT current_date
);
-- The org's daily API usage as its last answer's Sforce-Limit-Info header said.
CREATE TABLE IF NOT EXISTS {schema}.api_usage (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    used        integer NOT NULL,
    max         integer NOT NULL,
    observed_at timestamptz NOT NULL DEFAULT now()
);
"""

_SET_CONNECTION = """
INSERT INTO {schema}.connection_state (id, state, updated_at, last_error) VALUES (1, %(state)s, now(), %(error)s)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = now(),
    last_error = coalesce(excluded.last_error, CASE WHEN excluded.state = 'SYSTEM_ERROR'
                                                    THEN {schema}.connection_state.last_error END)
"""

_SET_MAPPING = """
INSERT INTO {schema}.mapping_state (object_name, state) VALUES (%(object)s, %(state)s)
ON CONFLICT (object_name) DO UPDATE SET state = excluded.state
"""

_COUNT_CALLS = """
INSERT INTO {schema}.mapping_state (object_name, state, api_calls_today, api_calls_day)
VALUES (%(object)s, 'INITIAL', %(calls)s, current_date)
ON CONFLICT (object_name) DO UPDATE SET
    api_calls_today = CASE WHEN {schema}.mapping_state.api_calls_day = current_date
                           THEN {schema}.mapping_state.api_calls_today + excluded.api_calls_today
                           ELSE excluded.api_calls_today END,
    api_calls_day = current_date
"""

_SET_USAGE = """
INSERT INTO {schema}.api_usage (id, used, max, observed_at) VALUES (1, %(used)s, %(max)s, now())
ON CONFLICT (id) DO UPDATE SET used = excluded.used, max = excluded.max, observed_at = now()
"""

_WATERMARK = "SELECT watermark_ts, watermark_id, state FROM {schema}.mapping_state WHERE object_name = %(object)s"

_SET_WATERMARK = """
UPDATE {schema}.mapping_state SET watermark_ts = %(ts)s, watermark_id = %(id)s, last_sync_at = now()
WHERE object_name = %(object)s
"""

_POLLED = "UPDATE {schema}.mapping_state SET last_poll_at = now() WHERE object_name = %(object)s"


def _sql(template: str) -> sql.Composed:
    return sql.SQL(template).format(schema=sql.Identifier(SCHEMA))


def ensure(conn) -> None:
    """Create the state tables (idempotent)."""
    conn.execute(_sql(DDL))


def set_connection(conn, state: str, error: str | None = None) -> None:
    """Record the connection's state (and an error, kept until the next one)."""
    conn.execute(_sql(_SET_CONNECTION), {"state": state, "error": error})


def set_mapping(conn, object_name: str, state: str) -> None:
    """Record a mapping's state."""
    conn.execute(_sql(_SET_MAPPING), {"object": object_name, "state": state})


def count_calls(conn, object_name: str, calls: int) -> None:
    """Add API calls made for a mapping to today's count (a new day starts from zero)."""
    if calls:
        conn.execute(_sql(_COUNT_CALLS), {"object": object_name, "calls": calls})


def watermark(conn, object_name: str) -> dict | None:
    """The mapping's row: watermark_ts / watermark_id (None before the initial load)."""
    return conn.execute(_sql(_WATERMARK), {"object": object_name}).fetchone()


def set_watermark(conn, object_name: str, ts: datetime, record_id: str) -> None:
    """Move the SystemModstamp watermark past the records just written."""
    conn.execute(_sql(_SET_WATERMARK), {"object": object_name, "ts": ts, "id": record_id})


def polled(conn, object_name: str) -> None:
    """Note that the mapping was just polled."""
    conn.execute(_sql(_POLLED), {"object": object_name})


def record_usage(conn, api_usage: dict) -> None:
    """Keep simple-salesforce's `api_usage['api-usage']` reading (used/max), when the org sent one."""
    usage = api_usage.get("api-usage") if api_usage else None
    if usage is None:
        return
    used, limit = getattr(usage, "used", None), getattr(usage, "total", None)
    if used is None:  # tolerate a plain "18/15000" string
        match = re.match(r"(\d+)/(\d+)", str(usage))
        if not match:
            return
        used, limit = int(match[1]), int(match[2])
    conn.execute(_sql(_SET_USAGE), {"used": used, "max": limit})


def utcnow() -> datetime:
    """Now, in UTC without time zone (how Connect stores timestamps)."""
    return datetime.now(UTC).replace(tzinfo=None)
