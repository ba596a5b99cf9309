"""The engine's own state, in schema `local_connect` (Connect's schema holds only what Connect creates).

On Heroku the same facts come from Connect's dashboard and `heroku connect:info`; locally the sync
health console reads them from here, through `standins/connect/info.py`.
"""

from psycopg import sql

from core.db import compose

SCHEMA = "local_connect"

DDL = """
CREATE SCHEMA IF NOT EXISTS {s};
-- One row: the connection's state, as `heroku connect:info` would show it.
CREATE TABLE IF NOT EXISTS {s}.connection_state (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    state       text NOT NULL,
    detail      text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Per mapping: its state, the pull watermark (SystemModstamp, Id), and the API calls it spent today.
CREATE TABLE IF NOT EXISTS {s}.mapping_state (
    object_name     text PRIMARY KEY,
    state           text NOT NULL DEFAULT 'INITIAL',
    watermark_ts    timestamp,
    watermark_id    varchar(18) NOT NULL DEFAULT '',
    last_poll_at    timestamptz,
    last_sync_at    timestamptz,
    api_calls_day   date NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    api_calls       integer NOT NULL DEFAULT 0,
    rows_pulled     bigint NOT NULL DEFAULT 0,
    rows_pushed     bigint NOT NULL DEFAULT 0
);
-- Bulk API batches the mapping's writes used today (the org's allowance: DailyBulkApiBatches).
ALTER TABLE {s}.mapping_state ADD COLUMN IF NOT EXISTS bulk_batches integer NOT NULL DEFAULT 0;
-- The org's own count, read from the Sforce-Limit-Info header of the last answer.
CREATE TABLE IF NOT EXISTS {s}.api_usage (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    used        integer NOT NULL,
    max         integer NOT NULL,
    observed_at timestamptz NOT NULL DEFAULT now()
);
"""


def ensure(conn) -> None:
    """Create the engine's tables (idempotent)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('local_connect:schema'))")
        conn.execute(compose(DDL, s=sql.Identifier(SCHEMA)))


def set_connection_state(conn, state: str, detail: str | None = None) -> None:
    """Record the connection's state (IDLE, POLLING_DB_CHANGES, SYSTEM_ERROR, …)."""
    conn.execute(sql.SQL(
        "INSERT INTO {}.connection_state (id, state, detail, updated_at) VALUES (1, %s, %s, now()) "
        "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, detail = EXCLUDED.detail, updated_at = now()"
    ).format(sql.Identifier(SCHEMA)), (state, detail))


def set_mapping_state(conn, object_name: str, state: str) -> None:
    """Record a mapping's state (INITIAL, POLLING_SF_CHANGES, DATA_SYNCED, …)."""
    conn.execute(sql.SQL(
        "INSERT INTO {}.mapping_state (object_name, state) VALUES (%s, %s) "
        "ON CONFLICT (object_name) DO UPDATE SET state = EXCLUDED.state"
    ).format(sql.Identifier(SCHEMA)), (object_name, state))


def mapping_row(conn, object_name: str) -> dict:
    """A mapping's state row (created on first use)."""
    set_mapping_state_if_missing = sql.SQL(
        "INSERT INTO {}.mapping_state (object_name) VALUES (%s) ON CONFLICT DO NOTHING").format(sql.Identifier(SCHEMA))
    conn.execute(set_mapping_state_if_missing, (object_name,))
    return conn.execute(sql.SQL("SELECT * FROM {}.mapping_state WHERE object_name = %s").format(
        sql.Identifier(SCHEMA)), (object_name,)).fetchone()


def count_api_calls(conn, object_name: str, calls: int, usage=None, *, batches: int = 0) -> None:
    """Add API calls (and Bulk API batches) to today's counts for a mapping; keep the org's own usage reading."""
    conn.execute(sql.SQL(
        "UPDATE {}.mapping_state SET "
        "api_calls = CASE WHEN api_calls_day = (now() AT TIME ZONE 'UTC')::date THEN api_calls ELSE 0 END + %s, "
        "bulk_batches = CASE WHEN api_calls_day = (now() AT TIME ZONE 'UTC')::date THEN bulk_batches ELSE 0 END + %s, "
        "api_calls_day = (now() AT TIME ZONE 'UTC')::date WHERE object_name = %s"
    ).format(sql.Identifier(SCHEMA)), (calls, batches, object_name))
    if usage is not None:
        conn.execute(sql.SQL(
            "INSERT INTO {}.api_usage (id, used, max, observed_at) VALUES (1, %s, %s, now()) "
            "ON CONFLICT (id) DO UPDATE SET used = EXCLUDED.used, max = EXCLUDED.max, observed_at = now()"
        ).format(sql.Identifier(SCHEMA)), usage)
