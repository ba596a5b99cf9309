"""The Heroku Connect data contract, in one place.

Everything the app knows about how Connect lays out and syncs its tables lives here: table and
column naming, the system columns, the `_hc_lastop` and trigger-log states, external-id
relationship columns, and the mapping file (`sql/connect/mapping.json`, in the exact format
`heroku connect:export` writes and `heroku connect:import` reads).

Production code reads Connect tables and writes read-write ones; it never creates or alters them.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from psycopg import sql

from core.paths import SQL_DIR

MAPPING_FILE = SQL_DIR / "connect" / "mapping.json"
OBJECTS_FILE = SQL_DIR / "connect" / "objects.json"

# Columns Connect adds to every mapped table, besides the mapped fields.
SYSTEM_COLUMNS = ("id", "sfid", "systemmodstamp", "isdeleted", "createddate", "_hc_lastop", "_hc_err")
# Salesforce fields every mapping carries; Connect stores them as system columns.
SYSTEM_FIELDS = ("Id", "IsDeleted", "SystemModstamp", "CreatedDate")

# _hc_lastop: where a row stands in the sync.
PENDING = "PENDING"  # changed in Postgres, waiting for Connect
INSERTED = "INSERTED"  # created in Salesforce by Connect; sfid now set
UPDATED = "UPDATED"  # updated in Salesforce by Connect
SYNCED = "SYNCED"  # written from Salesforce
FAILED = "FAILED"  # Salesforce refused the write; reason in _hc_err
LASTOP_STATES = (PENDING, INSERTED, UPDATED, SYNCED, FAILED)

# _trigger_log.state
LOG_NEW, LOG_PENDING, LOG_SUCCESS, LOG_FAILED = "NEW", "PENDING", "SUCCESS", "FAILED"
LOG_IGNORE, LOG_IGNORED, LOG_MERGED, LOG_READONLY = "IGNORE", "IGNORED", "MERGED", "READONLY"
LOG_REQUEUE, LOG_REQUEUED = "REQUEUE", "REQUEUED"
LOG_STATES = (LOG_NEW, LOG_PENDING, LOG_SUCCESS, LOG_FAILED, LOG_IGNORE, LOG_IGNORED, LOG_MERGED, LOG_READONLY,
              LOG_REQUEUE, LOG_REQUEUED)

# Connect runs its own writes with this session setting; the app's writes keep Postgres's default
# ('base64'). The triggers tell the two apart by it, so Connect's writes are never echoed back.
CONNECT_XMLBINARY = "hex"

# The demo plan (herokuconnect:demo) syncs at most this many rows across all mappings together.
DEMO_PLAN_ROWS = 10_000

# Connect's SOAP writes carry up to this many records per API call.
WRITE_BATCH_SIZE = 200

# Heroku Connect's plans (CONNECT_PLAN, core/config.py). The demo plan caps synced rows across all
# mappings (over it the connection goes to TOO_MANY_ROWS and sync stops), polls Salesforce at most
# every 10 minutes and keeps the trigger-log archive 7 days; the paid plans poll every 2–60 minutes,
# have no row cap and keep the archive 31 days.
@dataclass(frozen=True)
class Plan:
    """One Connect plan's rules."""

    name: str
    row_cap: int | None  # synced rows across all mappings; None: no cap
    min_polling_seconds: int
    archive_days: int


PLANS = {
    "demo": Plan("demo", row_cap=DEMO_PLAN_ROWS, min_polling_seconds=600, archive_days=7),
    "enterprise": Plan("enterprise", row_cap=None, min_polling_seconds=120, archive_days=31),
}
# Connect polls a mapping every 2 to 60 minutes (sf_polling_seconds), never outside that range.
POLLING_RANGE = (120, 3600)


def plan(name: str) -> Plan:
    """The rules of the plan CONNECT_PLAN names."""
    return PLANS[name]


def polling_seconds(mapping: "Mapping", rules: Plan) -> int:
    """How often Connect reads a mapping from Salesforce: its sf_polling_seconds, within the plan's range."""
    low, high = POLLING_RANGE
    return min(high, max(low, rules.min_polling_seconds, mapping.polling_seconds))


# What binds a sync (docs/batch-invoicing.md, "What a run costs, up front"): each plan's row cap.
PLAN_ROW_CAPS = {name: rules.row_cap for name, rules in PLANS.items()}
# Under Ordered Writes, a run of at least this many consecutive changes of one kind to one mapping
# goes out through the Bulk API (else SOAP calls of 200). Heroku documents that bulk writes exist
# only under Ordered Writes, but publishes no threshold in the pages this app cites: this figure is
# the local engine's (standins/connect/push.py) and the cost planner's (core/sync_cost.py) assumption.
# Reads switch to the Bulk API above 10,000 changed records (documented; standins/connect/pull.py).
BULK_WRITE_THRESHOLD = 2_000
BULK_BATCH_SIZE = 10_000

# The NOTIFY channel is '<schema>.hc_trigger_log'.
NOTIFY_SUFFIX = ".hc_trigger_log"


def table_name(object_name: str) -> str:
    """Connect's table for an object: the API name lowercased (`Invoice__c` → `invoice__c`)."""
    return object_name.lower()


def column_name(field_name: str) -> str:
    """Connect's column for a field: the API name lowercased."""
    return field_name.lower()


def relationship_column(relationship_name: str, external_id_field: str) -> str:
    """The column that names a parent by its external id (`contact__external_id__c`).

    Set it, and leave the lookup column NULL, when the parent exists only in Postgres: Salesforce
    resolves the parent on insert and the next read fills the lookup with the real Id.
    """
    return f"{relationship_name}__{external_id_field}".lower()


# Connect's column type for each describe field type.
_FIXED_TYPES = {
    "id": "varchar(18)",
    "reference": "varchar(18)",
    "email": "varchar(80)",
    "phone": "varchar(40)",
    "url": "varchar(255)",
    "currency": "double precision",
    "double": "double precision",
    "percent": "double precision",
    "int": "integer",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamp",
}


def column_type(field: dict) -> str:
    """The Postgres type Connect gives a Salesforce field (ValueError for a type Connect cannot map)."""
    kind = field["type"]
    if kind in _FIXED_TYPES:
        return _FIXED_TYPES[kind]
    if kind == "textarea" and field["length"] > 255:
        return "text"  # long text area
    if kind in ("string", "textarea", "picklist", "multipicklist", "combobox"):
        return f"varchar({field['length'] or 255})"
    raise ValueError(f"{field['name']}: no Connect column type for Salesforce type {kind!r}")


def notify_channel(schema: str) -> str:
    """The channel Connect's trigger-log trigger notifies."""
    return schema + NOTIFY_SUFFIX


def qualified(schema: str, table: str) -> sql.Composed:
    """`"schema"."table"`, safely quoted."""
    return sql.Identifier(schema, table)


@dataclass(frozen=True)
class Mapping:
    """One entry of the mapping file."""

    object_name: str
    access: str
    fields: tuple[str, ...]
    indexes: dict = field(default_factory=dict)
    upsert_field: str | None = None
    polling_seconds: int = 600
    max_daily_api_calls: int = 30000
    # Accelerated polling: read as soon as Salesforce says the object changed (Streaming API / CDC).
    notify_enabled: bool = False

    @property
    def table(self) -> str:
        return table_name(self.object_name)

    @property
    def read_write(self) -> bool:
        return self.access == "read_write"

    @property
    def columns(self) -> tuple[str, ...]:
        """The mapped fields' columns (system fields included, as Connect names them)."""
        return tuple("sfid" if f == "Id" else column_name(f) for f in self.fields)


def parse_mappings(document: dict) -> dict[str, Mapping]:
    """Mappings by object name, from a mapping document (raises ValueError on a malformed one)."""
    if not isinstance(document, dict) or not {"mappings", "connection", "version"} <= document.keys():
        raise ValueError("a mapping file has top-level keys mappings, connection and version")
    result = {}
    for entry in document["mappings"]:
        config = entry["config"]
        access = config["access"]
        if access not in ("read_only", "read_write"):
            raise ValueError(f"{entry['object_name']}: access must be read_only or read_write, not {access!r}")
        upsert = config.get("upsert_field")
        if upsert and access != "read_write":
            raise ValueError(f"{entry['object_name']}: only a read-write mapping has an upsert_field")
        # A read-write mapping without an upsert field is valid in Connect: it updates and deletes rows
        # that have an sfid, but cannot insert safely. Account is such a mapping: the app only writes its
        # churn-risk fields on synced accounts (docs/scoring.md, "Write-back through Connect").
        result[entry["object_name"]] = Mapping(
            object_name=entry["object_name"],
            access=access,
            fields=tuple(config["fields"]),
            indexes=dict(config.get("indexes", {})),
            upsert_field=upsert,
            polling_seconds=int(config.get("sf_polling_seconds", 600)),
            max_daily_api_calls=int(config.get("sf_max_daily_api_calls", 30000)),
            notify_enabled=bool(config.get("sf_notify_enabled", False)),
        )
    return result


@cache
def mappings(path: Path = MAPPING_FILE) -> dict[str, Mapping]:
    """The app's mappings, read from the checked-in mapping file."""
    return parse_mappings(json.loads(Path(path).read_text()))


@cache
def connection_features(path: Path = MAPPING_FILE) -> dict:
    """The mapping file's `connection.features`: `poll_db_no_merge` (true = Ordered Writes), `disable_bulk_writes`, …"""
    return dict(json.loads(Path(path).read_text())["connection"].get("features", {}))


def ordered_writes(path: Path = MAPPING_FILE) -> bool:
    """Whether the connection writes with Ordered Writes and may use the Bulk API for large writes.

    The mapping file's `connection.features`: `poll_db_no_merge` true means Ordered Writes,
    `disable_bulk_writes` true keeps even those on the SOAP API.
    """
    features = connection_features(path)
    return bool(features.get("poll_db_no_merge")) and not features.get("disable_bulk_writes")


@cache
def object_definitions(path: Path = OBJECTS_FILE) -> dict[str, dict]:
    """What Salesforce's describe says of each mapped object, by object name."""
    return {o["name"]: o for o in json.loads(Path(path).read_text())["sobjects"]}


def field_definition(object_name: str, field_name: str) -> dict:
    """One field's describe entry (type, length, nillable, …)."""
    for f in object_definitions()[object_name]["fields"]:
        if f["name"] == field_name:
            return f
    raise KeyError(f"{object_name}.{field_name}")


def sync_status(lastop: str | None, err: str | None = None, retrying: bool = False) -> dict:
    """What a customer is told about a row's journey to Salesforce, from `_hc_lastop` / `_hc_err`.

    `retrying`: the row is FAILED but its retry waits in the trigger log (core/trigger_log.py:
    RETRYING), so it is on its way again; only Connect's write-back changes `_hc_lastop`.
    """
    if lastop == PENDING or (lastop == FAILED and retrying):
        return {"state": "pending", "label": "Sending to Salesforce…", "final": False}
    if lastop == FAILED:
        return {"state": "failed", "label": f"Could not be saved: {error_message(err)}", "final": True}
    return {"state": "saved", "label": "Saved", "final": True}


def row_status(row: dict) -> dict:
    """sync_status() of a row read with `_hc_lastop`, `_hc_err` and (optionally) `retrying`."""
    return sync_status(row.get("_hc_lastop"), row.get("_hc_err"), bool(row.get("retrying")))


def error_message(err: str | None) -> str:
    """A readable reason from `_hc_err` (a JSON object Connect writes; plain text tolerated)."""
    if not err:
        return "Salesforce refused the change."
    try:
        data = json.loads(err)
    except ValueError:
        return err
    if isinstance(data, dict):
        for key in ("message", "msg", "error"):
            if data.get(key):
                return str(data[key])
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
            return str(errors[0]["message"])
    if isinstance(data, list) and data and isinstance(data[0], dict) and data[0].get("message"):
        return str(data[0]["message"])
    return err
