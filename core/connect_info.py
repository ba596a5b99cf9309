"""What the sync console shows of Heroku Connect's own state: the connection, each mapping, the org's API use.

Heroku Connect keeps those outside the database it syncs: on Heroku they are in the Connect
dashboard and `heroku connect:info`, and no query can read them from Postgres. Nor can one read
when each mapping last polled Salesforce, which is how Connect measures a mapping's lag. So the
console asks a `ConnectInfo` for them, and production's is `UnknownOnHeroku`, which says so (the
Connect API would answer with credentials the app does not hold). The local Connect stand-in
answers from its own tables instead (`standins.connect.info.LocalConnectInfo`); it is named by
dotted path in CONNECT_INFO, which `make run` and the tests set and Heroku never does, so nothing
deployed imports the stand-ins. A ConnectInfo may also offer connection operations
(`operations()`, `request()`): the console shows buttons only for those, so on Heroku it shows none.
"""

import importlib
from functools import cache
from typing import Protocol

from core.config import ConfigError

UNKNOWN_ON_HEROKU = "unknown on Heroku: see the Connect dashboard (heroku connect:info)"


class ConnectInfo(Protocol):
    """Where the sync console reads Connect's state; each method takes a database connection."""

    def connection(self, conn) -> dict:
        """{state, detail, api_used, api_max, observed_at, source}, None for whatever is not known."""

    def mappings(self, conn) -> dict[str, dict]:
        """{object name: {state, api_calls_today, polled_at}} for the mappings it knows; the others are left out.

        `polled_at` is when Connect last polled Salesforce for the mapping's changes (an aware datetime;
        None before its first poll): the "last poll" of the mapping's details in Connect's dashboard and
        API, from which the console measures a mapping's lag as Connect does.
        """

    def operations(self) -> tuple[str, ...]:
        """The connection operations the console may offer as buttons (pause, resume, mapping:reload, …)."""

    def request(self, conn, operation: str, object_name: str | None = None) -> str:
        """Ask for one of `operations()`; return what happens next, for the operator."""


def operations(info: ConnectInfo) -> tuple[str, ...]:
    """The operations `info` offers; none when it predates them or cannot (Heroku: the dashboard or CLI does)."""
    return tuple(getattr(info, "operations", tuple)())


class UnknownOnHeroku:
    """Production: Connect's state is not in Postgres, so the console points at where it is."""

    def connection(self, conn) -> dict:
        """Nothing known; the detail says where to look."""
        return {"state": None, "detail": UNKNOWN_ON_HEROKU, "api_used": None, "api_max": None, "observed_at": None,
                "source": "unknown"}

    def mappings(self, conn) -> dict[str, dict]:
        """No mapping's state, API calls or last poll are known."""
        return {}

    def operations(self) -> tuple[str, ...]:
        """None: on Heroku, operations are the Connect dashboard's, the CLI plugin's or the Connect API's."""
        return ()


@cache
def provider(dotted_path: str | None) -> ConnectInfo:
    """The ConnectInfo class CONNECT_INFO names, made once per process; UnknownOnHeroku when it is unset."""
    if not dotted_path:
        return UnknownOnHeroku()
    module, _, name = dotted_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"CONNECT_INFO names {dotted_path}, which cannot be loaded: {exc}") from None
