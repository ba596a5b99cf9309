"""The local Connect's answers to the sync console (core/connect_info.py), read from its `local_connect` tables.

`make run` and the tests plug it in with CONNECT_INFO=standins.connect.info.LocalConnectInfo.
"""

from psycopg import sql

from standins.connect import state

OPERATIONS = ("pause", "resume", "mapping:reload", "sf:auth")
SCHEMA_EXISTS = "SELECT to_regclass(%s) IS NOT NULL AS ok"
CONNECTION = "SELECT state, detail FROM {s}.connection_state WHERE id = 1"
USAGE = "SELECT used, max, observed_at FROM {s}.api_usage WHERE id = 1"
# The engine counts a mapping's calls for the UTC day it last counted on: a new day starts at zero.
MAPPINGS = """
SELECT object_name, state, last_poll_at AS polled_at,
       CASE WHEN api_calls_day = (now() AT TIME ZONE 'UTC')::date THEN api_calls ELSE 0 END AS api_calls_today
  FROM {s}.mapping_state
"""


def _q(statement: str) -> sql.Composed:
    return sql.SQL(statement).format(s=sql.Identifier(state.SCHEMA))


def _started(conn) -> bool:
    """Whether the engine has created its tables (it does on its first start)."""
    return conn.execute(SCHEMA_EXISTS, (f"{state.SCHEMA}.connection_state",)).fetchone()["ok"]


class LocalConnectInfo:
    """The connection's state, each mapping's state and the org's API use, as the local Connect records them."""

    def connection(self, conn) -> dict:
        """The engine's connection state and the org's own count of today's API requests."""
        info = {"state": None, "detail": "the local Connect has not started yet (make run starts it)",
                "api_used": None, "api_max": None, "observed_at": None, "source": "local Connect"}
        if not _started(conn):
            return info
        row = conn.execute(_q(CONNECTION)).fetchone()
        if row:
            info.update(state=row["state"], detail=row["detail"])
        usage = conn.execute(_q(USAGE)).fetchone()
        if usage:
            info.update(api_used=usage["used"], api_max=usage["max"], observed_at=usage["observed_at"])
        return info

    def mappings(self, conn) -> dict[str, dict]:
        """Each mapping's state, the API calls the engine spent on it today, and when it last polled the org."""
        if not _started(conn):
            return {}
        return {r["object_name"]: {"state": r["state"], "api_calls_today": r["api_calls_today"],
                                   "polled_at": r["polled_at"]}
                for r in conn.execute(_q(MAPPINGS))}

    def operations(self) -> tuple[str, ...]:
        """What the console may ask the local Connect for (the commands of standins/connect/commands.py)."""
        return OPERATIONS

    def request(self, conn, operation: str, object_name: str | None = None) -> str:
        """Queue the request for the running engine, as `python -m standins.connect <operation>` does."""
        if operation not in OPERATIONS:
            raise ValueError(f"not an operation the local Connect offers: {operation}")
        state.ensure(conn)
        state.request_operation(conn, operation, object_name)
        return (f"{operation}{' ' + object_name if object_name else ''} requested: the local Connect answers on its "
                "next cycle (about a second); its answer is the state shown below and a line in make run's log.")
