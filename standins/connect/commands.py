"""`python -m standins.connect <command>`: the local Connect's operations, named like the Heroku CLI plugin's.

`heroku connect:pause` is `python -m standins.connect pause`, and so on (docs/local-standins.md has
the table). Reading commands (state, info, mapping:state) read `local_connect` directly. Changing
commands write a request there and wait for the running engine's answer (it picks requests up
between cycles); exit status 0 = done, 1 = refused (the message says why), 2 = bad usage,
3 = no engine answered (nothing changed).
"""

import argparse
import sys
import time

from core import config, connect, db
from standins.connect import state

DONE, REFUSED, USAGE, NO_ENGINE = 0, 1, 2, 3
# What a mapping the engine has not touched yet reads as.
NOT_POLLED = {"state": "INITIAL", "rows_pushed": 0, "rows_pulled": 0, "last_poll_at": None}
NOT_RUNNING = "the local Connect is not running (make run starts it): nothing changed"


def _engine_running(conn) -> bool:
    """Whether an engine holds the one-engine lock (taking it here would mean none does)."""
    if conn.execute(state.TRY_ENGINE_LOCK, (state.ENGINE_LOCK,)).fetchone()["locked"]:
        conn.execute(state.RELEASE_ENGINE_LOCK, (state.ENGINE_LOCK,))
        return False
    return True


def _mapping(name: str) -> str | None:
    """The mapping's object name, matched case-insensitively (None when not mapped)."""
    return next((n for n in connect.mappings() if n.lower() == name.lower()), None)


def _ask(conn, operation: str, object_name: str | None, timeout: float, out) -> int:
    """Request an operation and wait for the engine's answer."""
    if not _engine_running(conn):
        print(NOT_RUNNING, file=sys.stderr)
        return NO_ENGINE
    request = state.request_operation(conn, operation, object_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = state.operation(conn, request)
        if answer["outcome"]:
            if answer["outcome"] == "done":
                print(answer["message"], file=out)
                return DONE
            print(f"refused: {answer['message']}", file=sys.stderr)
            return REFUSED
        time.sleep(0.1)  # the engine answers between cycles (a second or so)
    if state.withdraw_operation(conn, request):
        print(f"no answer from the local Connect within {timeout:.0f} s: request withdrawn, nothing changed",
              file=sys.stderr)
        return NO_ENGINE
    return _ask_answered(conn, request, out)


def _ask_answered(conn, request, out) -> int:
    answer = state.operation(conn, request)
    print(answer["message"], file=out if answer["outcome"] == "done" else sys.stderr)
    return DONE if answer["outcome"] == "done" else REFUSED


def show_state(conn, args, out) -> int:
    """`connect:state`: the connection's state."""
    current = state.connection(conn)
    if current["state"] is None:
        print("unknown: the local Connect has not run yet (make run starts it)", file=sys.stderr)
        return REFUSED
    print(current["state"], file=out)
    return DONE


def show_info(conn, args, out) -> int:
    """`connect:info`: the connection (state, detail, switches) and every mapping's state and counts."""
    current = state.connection(conn)
    print(f"=== Connection local (schema {args.schema})", file=out)
    print(f"State:   {current['state'] or 'unknown (not started)'}", file=out)
    if current["detail"]:
        print(f"Detail:  {current['detail']}", file=out)
    print(f"Paused:  {'yes' if current['paused'] else 'no'}   Maintenance: {'on' if current['maintenance'] else 'off'}"
          f"   Authorized: {'yes' if current['authorized'] else 'no'}", file=out)
    print("", file=out)
    print(f"{'Object':<12} {'State':<20} {'Pushed':>8} {'Pulled':>8}  Last poll", file=out)
    known = state.mapping_states(conn)
    for name in connect.mappings():
        row = known.get(name, NOT_POLLED)
        polled = row["last_poll_at"].strftime("%Y-%m-%d %H:%M:%S") if row["last_poll_at"] else "never"
        print(f"{name:<12} {row['state']:<20} {row['rows_pushed']:>8} {row['rows_pulled']:>8}  {polled}", file=out)
    return DONE


def show_mapping_state(conn, args, out) -> int:
    """`connect:mapping:state Object`: one mapping's state."""
    name = _mapping(args.object)
    if name is None:
        print(f"no mapping for {args.object!r}; mapped: {', '.join(connect.mappings())}", file=sys.stderr)
        return REFUSED
    print(state.mapping_states(conn).get(name, NOT_POLLED)["state"], file=out)
    return DONE


def _operation(name):
    def run(conn, args, out):
        object_name = getattr(args, "object", None) or getattr(args, "switch", None)
        if name == "mapping:reload" and _mapping(object_name) is None:
            print(f"no mapping for {object_name!r}; mapped: {', '.join(connect.mappings())}", file=sys.stderr)
            return REFUSED
        return _ask(conn, name, _mapping(object_name) if name == "mapping:reload" else object_name, args.wait, out)
    return run


COMMANDS = {
    "state": ("the connection's state (heroku connect:state)", show_state, None),
    "info": ("the connection and its mappings (heroku connect:info)", show_info, None),
    "mapping:state": ("one mapping's state (heroku connect:mapping:state)", show_mapping_state, "object"),
    "pause": ("pause syncing; only from IDLE (heroku connect:pause)", _operation("pause"), None),
    "resume": ("resume a paused connection (heroku connect:resume)", _operation("resume"), None),
    "mapping:reload": ("empty a mapping's table and refill it from the org (heroku connect:mapping:reload)",
                       _operation("mapping:reload"), "object"),
    "maintenance": ("start or end a maintenance window (Heroku schedules them; local only)",
                    _operation("maintenance"), "switch"),
    "sf:auth": ("re-authorize the org after UNAUTHORIZED (heroku connect:sf:auth)", _operation("sf:auth"), None),
    "sf:expire": ("make the org's authorization expire (local only)", _operation("sf:expire"), None),
}


def parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per operation."""
    p = argparse.ArgumentParser(prog="python -m standins.connect",
                                description="Operate the local Connect, as `heroku connect:<command>` does.")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    for name, (text, _, argument) in COMMANDS.items():
        c = sub.add_parser(name, help=text, description=text)
        if argument == "object":
            c.add_argument("object", help="the mapped object, e.g. Contact")
        elif argument == "switch":
            c.add_argument("switch", choices=("on", "off"))
        c.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the engine's answer")
    return p


def main(argv, out=sys.stdout) -> int:
    """Run one command; return its exit status."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code else DONE
    with config.exit_on_error():
        cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        state.ensure(conn)
        args.schema = cfg.connect_schema
        return COMMANDS[args.command][1](conn, args, out)
