"""Connection operations, as Heroku Connect's CLI plugin names them, and the rules Connect applies to them.

A command (standins/connect/commands.py) writes a request into `local_connect.operations`; the
running engine answers it at the start of its next cycle through `answer_waiting` — between
cycles, so an operation never cuts a push or a poll in half. Each answer is `done` or `refused`
with a message a person can act on, and one log line.

| operation | Connect's rule | what changes |
|---|---|---|
| pause | only from IDLE | connection PAUSED; nothing is sent or polled; app writes queue in the trigger log |
| resume | only when paused (not in a maintenance window) | back to IDLE; the queue drains |
| maintenance on/off | Heroku's window (up to 45 min) | PAUSED with the window's detail while on; drains when off |
| mapping:reload X | not while paused or unauthorized | waiting changes sent first; table emptied, refilled |
| sf:auth | re-authorize the org | UNAUTHORIZED cleared; the next call logs in again |
| sf:expire | local only: what an expired authorization does | UNAUTHORIZED; changes kept |
"""

import logging

from standins.connect import state
from standins.connect.engine import OrgUnavailable

log = logging.getLogger("standins.connect")

PAUSED_DETAIL = "paused (connect:pause); changes queue in the trigger log until connect:resume"
MAINTENANCE_DETAIL = "maintenance window: nothing syncs; changes queue in the trigger log and drain afterwards"
UNAUTHORIZED_DETAIL = "changes are kept; re-authorize with: python -m standins.connect sf:auth"


def logfmt(event: str, **fields) -> str:
    """`event key=value …`, values with spaces or quotes quoted (one line a log search can split)."""
    parts = [event]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c in text for c in ' "=\\'):
            text = '\\"' + text.replace("\\", "\\\\").replace('"', "'") + '\\"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def held_state(current) -> tuple[str, str] | None:
    """The state a held connection shows (maintenance, pause, expired authorization), None when not held."""
    if current["maintenance"]:
        return "PAUSED", MAINTENANCE_DETAIL
    if current["paused"]:
        return "PAUSED", PAUSED_DETAIL
    if not current["authorized"]:
        return "UNAUTHORIZED", current["detail"] if current["state"] == "UNAUTHORIZED" else UNAUTHORIZED_DETAIL
    return None


def _refused(message):
    return "refused", message


def pause(runner, op):
    """Pause: only from IDLE, as Connect allows it."""
    current = state.connection(runner.conn)
    if current["paused"] or current["maintenance"]:
        return _refused(f"the connection is already {current['state']}")
    # Judged by the state when the request was made: a push that was running then counts.
    was = state.state_at(runner.conn, op["requested_at"]) or current["state"]
    if was not in (None, "IDLE"):
        return _refused(f"the connection was {was}: Connect pauses only from IDLE; try again when it is IDLE "
                        "(python -m standins.connect state)")
    state.set_switch(runner.conn, "paused", True)
    runner.set_state("PAUSED", PAUSED_DETAIL)
    return "done", "paused: changes queue in the trigger log until resume"


def resume(runner, op):
    """Resume a paused connection (a maintenance window ends by itself: `maintenance off`)."""
    current = state.connection(runner.conn)
    if current["maintenance"]:
        return _refused("a maintenance window is in progress: it ends with `maintenance off`")
    if not current["paused"]:
        return _refused(f"the connection is not paused (it is {current['state']})")
    state.set_switch(runner.conn, "paused", False)
    runner.set_state("IDLE")
    return "done", "resumed: queued changes are sent on this cycle"


def maintenance(runner, op):
    """Start (object_name 'on') or end ('off') a maintenance window."""
    on = op["object_name"] == "on"
    current = state.connection(runner.conn)
    if on == current["maintenance"]:
        return _refused(f"the maintenance window is already {'on' if on else 'off'}")
    state.set_switch(runner.conn, "maintenance", on)
    if on:
        runner.set_state("PAUSED", MAINTENANCE_DETAIL)
        return "done", "maintenance window started: changes queue in the trigger log"
    if current["paused"]:
        runner.set_state("PAUSED", PAUSED_DETAIL)
        return "done", "maintenance window ended; the connection is still paused (resume sends the queue)"
    runner.set_state("IDLE")
    return "done", "maintenance window ended: queued changes drain from this cycle"


def reload_mapping(runner, op):
    """Empty a mapping's table and refill it from the org, after sending what is waiting."""
    name = op["object_name"]
    mapping = next((n for n in runner.engine.mappings if n.lower() == (name or "").lower()), None)
    if mapping is None:
        return _refused(f"no mapping for {name!r}; mapped: {', '.join(runner.engine.mappings)}")
    current = state.connection(runner.conn)
    if current["paused"] or current["maintenance"] or not current["authorized"]:
        return _refused(f"the connection is {current['state']}: resume it before reloading a mapping")
    try:
        # Sent first: a change still in the trigger log would be lost with the row it belongs to.
        while runner.engine.push_once():
            pass
        rows = runner.engine.reload(mapping)
    except OrgUnavailable as exc:
        return _refused(f"{exc}; the reload finishes on the next polls (mapping state RELOAD_TABLE)")
    return "done", f"{mapping} reloaded: {rows} row(s) from the org; mapping state DATA_SYNCED"


def authorize(runner, op):
    """`connect:sf:auth`: the org authorized again; the engine logs in afresh."""
    state.set_switch(runner.conn, "authorized", True)
    runner.engine.log_out()
    current = state.connection(runner.conn)
    if current["paused"] or current["maintenance"]:
        return "done", f"authorized; the connection stays {current['state']}"
    runner.set_state("IDLE")
    return "done", "authorized: the engine logs in again and sends the changes kept"


def expire(runner, op):
    """Local only: what an expired or revoked authorization does to Connect."""
    runner.unauthorized("authorization expired (sf:expire)")
    return "done", "authorization expired: connection UNAUTHORIZED, changes kept until sf:auth"


HANDLERS = {"pause": pause, "resume": resume, "maintenance": maintenance, "mapping:reload": reload_mapping,
            "sf:auth": authorize, "sf:expire": expire}


def answer_waiting(runner) -> int:
    """Answer every waiting request, oldest first; return how many."""
    waiting = state.waiting_operations(runner.conn)
    for op in waiting:
        handler = HANDLERS.get(op["operation"])
        outcome, message = handler(runner, op) if handler else _refused(f"unknown operation {op['operation']!r}")
        state.answer_operation(runner.conn, op["id"], outcome, message)
        log.info(logfmt("operation", op=op["operation"], object=op["object_name"], outcome=outcome,
                        message=message))
    return len(waiting)
