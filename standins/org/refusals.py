"""Refusal switches: make the org refuse writes, or whole calls, the way real orgs do, until switched off.

A learner switches one on (the HTML view, or `python -m standins.org refuse <kind>`), causes a write,
and sees what Heroku Connect and the app make of the refusal. Kinds:

- `validation`: a validation rule on one field — every insert or update that sets it (or, with
  `contains`, sets it to a text containing that word, any case) is refused with
  FIELD_CUSTOM_VALIDATION_EXCEPTION, the rule's message and the field in `fields`;
- `lock`: UNABLE_TO_LOCK_ROW, transient (by default once, then writes succeed again);
- `trigger`: an Apex trigger that throws (CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY, "<Name>: execution of
  BeforeUpdate caused by: …");
- `access`: INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY (the integration user lost access);
- `limit`: every API call the org counts answers 403 REQUEST_LIMIT_EXCEEDED, as a spent daily limit does;
- `maintenance`: every API call answers 503 SERVER_UNAVAILABLE, as an org down for maintenance does.

The first four are record refusals: `check_write` runs inside every write (standins/org/rules.py), so
each API answers them in its own shape. The last two are call refusals (`call_refusal`), answered
before any resource by api/outage.py. A switch is a row of the org's settings table,
`refuse:<kind>:<Object>[.<Field>]` → JSON {message, times, contains}, so it survives a restart. `times` makes
a switch refuse that many writes (or calls) and then let them through.
"""

import hashlib
import json

from psycopg import sql

from standins.org.describe import canonical_object, field_of
from standins.org.errors import SalesforceError

PREFIX = "refuse:"
RECORD_KINDS = ("validation", "lock", "trigger", "access")
CALL_KINDS = ("limit", "maintenance")
KINDS = RECORD_KINDS + CALL_KINDS
# What each kind is, in a line, for the HTML view and the command's help.
DESCRIPTIONS = {
    "validation": "a validation rule on one field: FIELD_CUSTOM_VALIDATION_EXCEPTION with its message",
    "lock": "UNABLE_TO_LOCK_ROW: another transaction holds the record (transient: once, unless told more)",
    "trigger": "an Apex trigger that throws: CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    "access": "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY: the user may not use a record the write names",
    "limit": "403 REQUEST_LIMIT_EXCEEDED on every API call, as a spent daily API limit",
    "maintenance": "503 SERVER_UNAVAILABLE on every API call, as an org down for maintenance",
}
DEFAULT_TIMES = {"lock": 1}
# An Apex trigger's unhandled exception, as Salesforce words it (the part after "caused by:").
TRIGGER_CAUSE = "System.NullPointerException: Attempt to de-reference a null object"
TRIGGER_EVENTS = {"insert": "BeforeInsert", "update": "BeforeUpdate", "delete": "BeforeDelete"}
SERVER_UNAVAILABLE = "Server temporarily unavailable: the org is down for maintenance. Try again later."
LIMIT_EXCEEDED = "TotalRequests Limit exceeded."

SWITCHES = "SELECT key, value FROM {}.settings WHERE starts_with(key, 'refuse:') ORDER BY key"
CALL_SWITCHES = "SELECT key, value FROM {}.settings WHERE key = ANY(%s)"
SET_SWITCH = "INSERT INTO {}.settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s"
CLEAR_SWITCH = "DELETE FROM {}.settings WHERE key = %s RETURNING key"
CLEAR_KIND = "DELETE FROM {}.settings WHERE starts_with(key, %s) RETURNING key"
# A switch's count is a sequence: nextval() is never rolled back, so a refused write, whose
# transaction rolls back, still uses up one of the switch's `times`.
NEW_COUNTER = "CREATE SEQUENCE IF NOT EXISTS {}; ALTER SEQUENCE {} RESTART WITH 1"
NEXT = "SELECT nextval(%s::regclass) AS n"
SPENT = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM {}"


class SwitchError(ValueError):
    """A switch that cannot be: an unknown kind, or an object or field the kind does not take."""


def _scope(kind, obj, field_name, contains=None) -> str:
    """`Contact.Phone`, `Contact` or `` — canonical names, checked against what the kind takes."""
    if kind not in KINDS:
        raise SwitchError(f"unknown refusal {kind!r}: one of {', '.join(KINDS)}")
    if kind == "validation" and not (obj and field_name):
        raise SwitchError("a validation rule needs --object and --field")
    if kind in CALL_KINDS and obj:
        raise SwitchError(f"{kind} refuses every call: it takes no --object")
    if field_name and kind != "validation":
        raise SwitchError("only a validation rule takes --field")
    if contains and kind != "validation":
        raise SwitchError("only a validation rule takes --contains")
    try:
        name = canonical_object(obj) if obj else ""
        return f"{name}.{field_of(name, field_name)['name']}" if field_name else name
    except SalesforceError as exc:
        raise SwitchError(exc.message) from None


def _counter(schema, key) -> sql.Identifier:
    return sql.Identifier(schema, "refusal_" + hashlib.sha1(key.encode()).hexdigest()[:12])


def switch_on(conn, schema, kind, obj=None, field_name=None, message=None, times=None, contains=None) -> str:
    """Switch a refusal on (or change it); return its key. `times`: refuse only that many, then succeed;
    `contains` (validation): refuse only values containing this text, as a rule's error condition
    `CONTAINS(LOWER(Field), "text")` does."""
    key = f"{PREFIX}{kind}:{_scope(kind, obj, field_name, contains)}"
    times = times if times is not None else DEFAULT_TIMES.get(kind)
    if times is not None and times < 1:
        raise SwitchError("--times must be at least 1")
    value = json.dumps({"message": message or None, "times": times, "contains": contains or None})
    with conn.transaction():
        if times is not None:
            counter = _counter(schema, key)
            conn.execute(sql.SQL(NEW_COUNTER).format(counter, counter))
        conn.execute(sql.SQL(SET_SWITCH).format(sql.Identifier(schema)), (key, value, value))
    return key


def switch_off(conn, schema, kind, obj=None, field_name=None) -> list[str]:
    """Switch refusals off: the one named, or every switch of the kind without an object; the keys removed."""
    if kind not in KINDS:
        raise SwitchError(f"unknown refusal {kind!r}: one of {', '.join(KINDS)}")
    if obj:
        statement, key = CLEAR_SWITCH, f"{PREFIX}{kind}:{_scope(kind, obj, field_name)}"
    else:
        statement, key = CLEAR_KIND, f"{PREFIX}{kind}:"
    return [r["key"] for r in conn.execute(sql.SQL(statement).format(sql.Identifier(schema)), (key,))]


def remove(conn, schema, key) -> bool:
    """Switch off the one switch with this key (as listing() names it); False if it was not on."""
    if not key.startswith(PREFIX):
        return False
    return bool(conn.execute(sql.SQL(CLEAR_SWITCH).format(sql.Identifier(schema)), (key,)).fetchall())


def _parse(row) -> dict:
    kind, _, scope = row["key"].removeprefix(PREFIX).partition(":")
    obj, _, field_name = scope.partition(".")
    value = json.loads(row["value"])
    return {"key": row["key"], "kind": kind, "object": obj or None, "field": field_name or None,
            "message": value.get("message"), "times": value.get("times"), "contains": value.get("contains")}


def listing(conn, schema) -> list[dict]:
    """Every switch that is on: kind, object, field, message, times and how many of them are left."""
    out = []
    for row in conn.execute(sql.SQL(SWITCHES).format(sql.Identifier(schema))).fetchall():
        switch = _parse(row)
        switch["left"] = None
        if switch["times"] is not None:
            spent = conn.execute(sql.SQL(SPENT).format(_counter(schema, switch["key"]))).fetchone()["n"]
            switch["left"] = max(0, switch["times"] - spent)
        out.append(switch)
    return out


def _fires(conn, schema, switch) -> bool:
    """Whether a switch that applies refuses this time (a counted one only until its times are spent)."""
    if switch["times"] is None:
        return True
    name = _counter(schema, switch["key"]).as_string(conn)
    return conn.execute(NEXT, (name,)).fetchone()["n"] <= switch["times"]


# ---- record refusals: inside every write --------------------------------------------------------

def check_write(conn, schema, obj, operation, values, record_id=None) -> None:
    """Refuse an insert, update or delete of `obj` as the first switch that applies to it says.

    Called by standins/org/rules.py on every write, whichever API it came through, so REST,
    collections, composite, trees and both Bulk APIs refuse alike, each in its own shape.
    """
    for row in conn.execute(sql.SQL(SWITCHES).format(sql.Identifier(schema))).fetchall():
        switch = _parse(row)
        if switch["kind"] not in RECORD_KINDS or switch["object"] not in (None, obj):
            continue
        if switch["kind"] == "validation" and not _breaks_rule(switch, operation, values):
            continue
        if _fires(conn, schema, switch):
            raise _record_error(switch, obj, operation, values, record_id)


def _breaks_rule(switch, operation, values) -> bool:
    """Whether a write breaks a validation rule: it sets the field (to a value containing the text, if any)."""
    if operation == "delete" or switch["field"] not in values:
        return False
    contains = switch.get("contains")
    return not contains or contains.lower() in str(values[switch["field"]] or "").lower()


def _named_record(obj, values, record_id) -> str | None:
    """The record a lock or access refusal names: the one written, else the first lookup it sets."""
    if record_id:
        return record_id
    for name, value in values.items():
        if value and field_of(obj, name)["type"] == "reference":
            return value
    return None


def _record_error(switch, obj, operation, values, record_id) -> SalesforceError:
    kind, message, named = switch["kind"], switch["message"], _named_record(obj, values, record_id)
    if kind == "validation":
        return SalesforceError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                               message or f"{obj}.{switch['field']} is refused by a validation rule.",
                               [switch["field"]])
    if kind == "lock":
        default = "unable to obtain exclusive access to this record" + (f" or 1 records: {named}" if named else "")
        return SalesforceError(400, "UNABLE_TO_LOCK_ROW", message or default)
    if kind == "trigger":
        trigger = obj.removesuffix("__c").replace("_", "") + "Trigger"
        return SalesforceError(400, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                               f"{trigger}: execution of {TRIGGER_EVENTS[operation]}\n\ncaused by: "
                               f"{message or TRIGGER_CAUSE}\n\nTrigger.{trigger}: line 1, column 1")
    default = "insufficient access rights on cross-reference id" + (f": {named}" if named else "")
    return SalesforceError(400, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", message or default)


# ---- call refusals: before any resource ---------------------------------------------------------

def call_refusal(conn, schema, counted) -> SalesforceError | None:
    """The refusal an API call gets now (maintenance first), or None. `counted()`: whether the call is
    one the org counts against DailyApiRequests, which is what the `limit` switch refuses (asked only
    while that switch is on)."""
    rows = conn.execute(sql.SQL(CALL_SWITCHES).format(sql.Identifier(schema)),
                        ([f"{PREFIX}{kind}:" for kind in CALL_KINDS],)).fetchall()
    switches = {s["kind"]: s for s in map(_parse, rows)}
    maintenance, limit = switches.get("maintenance"), switches.get("limit")
    if maintenance and _fires(conn, schema, maintenance):
        return SalesforceError(503, "SERVER_UNAVAILABLE", maintenance["message"] or SERVER_UNAVAILABLE)
    if limit and counted() and _fires(conn, schema, limit):
        return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", limit["message"] or LIMIT_EXCEEDED)
    return None
