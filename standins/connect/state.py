"""The engine's own state, in schema `local_connect` (Connect's schema holds only what Connect creates).

On Heroku the same facts come from Connect's dashboard and `heroku connect:info`; locally the sync
health console reads them from here, through `standins/connect/info.py`. The operations a person
asks for (`python -m standins.connect pause`, …) are rows of `operations`: the running engine picks
them up at the start of its next cycle and writes its answer back, so the command and the engine
need no channel but the database.
"""

from psycopg import sql

from core.db import compose

SCHEMA = "local_connect"
# Only one engine may send a schema's changes: two would both claim and reorder them. The engine
# holds this session lock while it runs; a command that can take it knows no engine is running.
ENGINE_LOCK = "local_connect:engine"
TRY_ENGINE_LOCK = "SELECT pg_try_advisory_lock(hashtext(%s)) AS locked"
RELEASE_ENGINE_LOCK = "SELECT pg_advisory_unlock(hashtext(%s))"

DDL = """
CREATE SCHEMA IF NOT EXISTS {s};
-- One row: the connection's state, as `heroku connect:info` would show it.
CREATE TABLE IF NOT EXISTS {s}.connection_state (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    state       text NOT NULL,
    detail      text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- What a person switched, kept across engine restarts (a paused connection stays paused).
ALTER TABLE {s}.connection_state ADD COLUMN IF NOT EXISTS paused boolean NOT NULL DEFAULT false;
ALTER TABLE {s}.connection_state ADD COLUMN IF NOT EXISTS maintenance boolean NOT NULL DEFAULT false;
ALTER TABLE {s}.connection_state ADD COLUMN IF NOT EXISTS authorized boolean NOT NULL DEFAULT true;
-- Every change of the connection's state, oldest first (the engine logs each one too).
CREATE TABLE IF NOT EXISTS {s}.state_changes (
    id          bigserial PRIMARY KEY,
    state       text NOT NULL,
    detail      text,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
-- Requests from the commands (pause, resume, mapping:reload, …) and the engine's answers.
CREATE TABLE IF NOT EXISTS {s}.operations (
    id            bigserial PRIMARY KEY,
    operation     text NOT NULL,
    object_name   text,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    answered_at   timestamptz,
    outcome       text CHECK (outcome IN ('done', 'refused')),
    message       text
);
CREATE INDEX IF NOT EXISTS operations_waiting ON {s}.operations (id) WHERE answered_at IS NULL;
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


def _q(statement: str) -> sql.Composed:
    return compose(statement, s=sql.Identifier(SCHEMA))


def ensure(conn) -> None:
    """Create the engine's tables (idempotent)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('local_connect:schema'))")
        conn.execute(compose(DDL, s=sql.Identifier(SCHEMA)))


# Written only when the state or its detail changes, so each change is one history row (and one log line).
SET_CONNECTION_STATE = """
WITH changed AS (
    INSERT INTO {s}.connection_state (id, state, detail, updated_at) VALUES (1, %(state)s, %(detail)s, now())
    ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, detail = EXCLUDED.detail, updated_at = now()
     WHERE connection_state.state IS DISTINCT FROM EXCLUDED.state
        OR connection_state.detail IS DISTINCT FROM EXCLUDED.detail
    RETURNING state, detail
)
INSERT INTO {s}.state_changes (state, detail) SELECT state, detail FROM changed RETURNING id
"""


def set_connection_state(conn, state: str, detail: str | None = None) -> bool:
    """Record the connection's state (IDLE, POLLING_DB_CHANGES, SYSTEM_ERROR, …); True when it changed."""
    return conn.execute(_q(SET_CONNECTION_STATE), {"state": state, "detail": detail}).fetchone() is not None


CONNECTION = "SELECT state, detail, paused, maintenance, authorized, updated_at FROM {s}.connection_state WHERE id = 1"
SWITCHES = ("paused", "maintenance", "authorized")


def connection(conn) -> dict:
    """The connection's state and switches (defaults before the engine first wrote them)."""
    row = conn.execute(_q(CONNECTION)).fetchone()
    return row or {"state": None, "detail": None, "paused": False, "maintenance": False, "authorized": True,
                   "updated_at": None}


SET_SWITCH = """
INSERT INTO {s}.connection_state (id, state, {switch}) VALUES (1, %(state)s, %(value)s)
ON CONFLICT (id) DO UPDATE SET {switch} = EXCLUDED.{switch}
"""


def set_switch(conn, switch: str, value: bool) -> None:
    """Turn paused / maintenance / authorized on or off (the state itself is set apart)."""
    if switch not in SWITCHES:
        raise ValueError(f"no such switch: {switch}")
    conn.execute(sql.SQL(SET_SWITCH).format(s=sql.Identifier(SCHEMA), switch=sql.Identifier(switch)),
                 {"state": "IDLE", "value": value})


STATE_AT = "SELECT state FROM {s}.state_changes WHERE changed_at <= %(at)s ORDER BY id DESC LIMIT 1"


def state_at(conn, at) -> str | None:
    """The connection's state at a moment (None before the first recorded change)."""
    row = conn.execute(_q(STATE_AT), {"at": at}).fetchone()
    return row["state"] if row else None


STATE_CHANGES = "SELECT state, detail, changed_at FROM {s}.state_changes WHERE id > %(after)s ORDER BY id"
LAST_STATE_CHANGE = "SELECT coalesce(max(id), 0) AS id FROM {s}.state_changes"


def state_changes(conn, after: int = 0) -> list[dict]:
    """The connection's state changes after history row `after`, oldest first."""
    return conn.execute(_q(STATE_CHANGES), {"after": after}).fetchall()


def last_state_change(conn) -> int:
    """The id of the latest history row (0 when there is none)."""
    return conn.execute(_q(LAST_STATE_CHANGE)).fetchone()["id"]


REQUEST = "INSERT INTO {s}.operations (operation, object_name) VALUES (%(operation)s, %(object)s) RETURNING id"
WAITING = "SELECT id, operation, object_name, requested_at FROM {s}.operations WHERE answered_at IS NULL ORDER BY id"
ANSWER = "UPDATE {s}.operations SET answered_at = now(), outcome = %(outcome)s, message = %(message)s WHERE id = %(id)s"
OPERATION = "SELECT id, operation, object_name, outcome, message, answered_at FROM {s}.operations WHERE id = %(id)s"
WITHDRAW = "DELETE FROM {s}.operations WHERE id = %(id)s AND answered_at IS NULL"


def request_operation(conn, operation: str, object_name: str | None = None) -> int:
    """Ask the engine for an operation; return the request's id."""
    return conn.execute(_q(REQUEST), {"operation": operation, "object": object_name}).fetchone()["id"]


def waiting_operations(conn) -> list[dict]:
    """Requests not answered yet, oldest first."""
    return conn.execute(_q(WAITING)).fetchall()


def answer_operation(conn, request_id: int, outcome: str, message: str) -> None:
    """Record the engine's answer: `done` or `refused`, with what it means."""
    conn.execute(_q(ANSWER), {"id": request_id, "outcome": outcome, "message": message})


def operation(conn, request_id: int) -> dict | None:
    """One request and its answer (None while it does not exist)."""
    return conn.execute(_q(OPERATION), {"id": request_id}).fetchone()


def withdraw_operation(conn, request_id: int) -> bool:
    """Take back a request nobody answered; True when it was still waiting."""
    return conn.execute(_q(WITHDRAW), {"id": request_id}).rowcount == 1


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


MAPPING_STATES = "SELECT * FROM {s}.mapping_state"


def mapping_states(conn) -> dict[str, dict]:
    """Every mapping's state row the engine has written, by object name."""
    return {r["object_name"]: r for r in conn.execute(_q(MAPPING_STATES))}


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


# A reload starts the mapping over: the next poll is an initial load (every record, from the start).
RESET_WATERMARK = """
UPDATE {s}.mapping_state SET state = %(state)s, watermark_ts = NULL, watermark_id = '' WHERE object_name = %(object)s
"""


def reset_watermark(conn, object_name: str, state: str) -> None:
    """Forget a mapping's pull watermark and set its state (RELOAD_TABLE)."""
    mapping_row(conn, object_name)
    conn.execute(_q(RESET_WATERMARK), {"object": object_name, "state": state})
