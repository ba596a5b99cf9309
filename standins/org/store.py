"""The local org's records, in a Postgres schema of its own (default `local_org`), and the rules it enforces.

One table holds every object's records as JSON (field API name → the value as Salesforce's REST API
writes it), with the system fields as columns so SOQL polling by SystemModstamp is an index scan.
Writes follow Salesforce: required fields, lengths, picklists, read-only fields, references that
must exist, a few validation rules, computed fields (Contact.Name, Order.StatusCode, auto-numbers),
and every write stamps SystemModstamp with the transaction's time (records written together share it).
"""

import json
import re
from datetime import UTC, date, datetime

from psycopg import sql
from psycopg.types.json import Jsonb

from core.db import compose
from standins.org import soql
from standins.org.describe import canonical_object, describe, field_of, key_prefix_object, owned
from standins.org.errors import SalesforceError
from standins.org.ids import USER_ID, full_id, looks_like_id, salesforce_id

# Ids the org hands out start above any demo-data record number, so they never collide.
FIRST_NEW_RECORD = 100_000_000
# The audit fields, kept as columns. LastModifiedDate is SystemModstamp: the org makes no system-only
# changes, so every write moves both, as a user's write does in Salesforce.
SYSTEM_COLUMNS = {"Id": "id", "CreatedDate": "created_date", "SystemModstamp": "system_modstamp",
                  "IsDeleted": "is_deleted", "LastModifiedDate": "system_modstamp", "CreatedById": "created_by_id",
                  "LastModifiedById": "last_modified_by_id"}
AUTO_NUMBER_WIDTH = {"CaseNumber": 8, "OrderNumber": 8, "OrderItemNumber": 10}
ORDER_STATUS_CATEGORY = {"Draft": "Draft", "Activated": "Activated", "Shipped": "Activated",
                         "Delivered": "Activated", "Cancelled": "Cancelled"}
DEFAULTS = {"Case": {"Status": "New", "Priority": "Medium"}, "Product2": {"IsActive": False},
            "Order": {"TotalAmount": 0.0}}


# Salesforce keeps timestamps to the millisecond: so must the org, or a poller's watermark (which it
# reads back at millisecond precision) would sit below records written in the same millisecond.
NOW = sql.SQL("date_trunc('milliseconds', now() AT TIME ZONE 'UTC')")


SCHEMA_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.records (
    id              varchar(18) PRIMARY KEY,
    object          text NOT NULL,
    fields          jsonb NOT NULL,
    created_date    timestamp NOT NULL,
    system_modstamp timestamp NOT NULL,
    is_deleted      boolean NOT NULL DEFAULT false,
    deleted_date    timestamp
);
-- Who created and last changed a record: every session is the integration user's, so both are it
-- (added in place, filled for every existing record, in orgs created before they were kept).
ALTER TABLE {schema}.records ADD COLUMN IF NOT EXISTS created_by_id varchar(18) NOT NULL DEFAULT {user};
ALTER TABLE {schema}.records ADD COLUMN IF NOT EXISTS last_modified_by_id varchar(18) NOT NULL DEFAULT {user};
-- SystemModstamp polling: WHERE object = … AND system_modstamp > … ORDER BY system_modstamp, id
CREATE INDEX IF NOT EXISTS records_object_modstamp ON {schema}.records (object, system_modstamp, id);
-- Upserts and get-by-external-id look records up by External_ID__c.
CREATE INDEX IF NOT EXISTS records_external_id ON {schema}.records (object, (fields->>'External_ID__c'))
    WHERE fields ? 'External_ID__c';
CREATE TABLE IF NOT EXISTS {schema}.counters (name text PRIMARY KEY, value bigint NOT NULL);
-- Limits spent, per limit and hour (standins/org/limits.py); api_usage was its daily predecessor.
CREATE TABLE IF NOT EXISTS {schema}.usage (
    name text NOT NULL, hour timestamp NOT NULL, used bigint NOT NULL, PRIMARY KEY (name, hour));
DROP TABLE IF EXISTS {schema}.api_usage;
CREATE TABLE IF NOT EXISTS {schema}.settings (key text PRIMARY KEY, value text NOT NULL);
"""


def ensure_schema(conn, schema: str) -> None:
    """Create the org's tables (idempotent)."""
    s = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"local-org:{schema}",))
        conn.execute(compose(SCHEMA_DDL, schema=s, user=sql.Literal(USER_ID)))


def format_datetime(value: datetime) -> str:
    """Salesforce's datetime format: 2024-01-01T00:00:00.000+0000."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _next(conn, schema, name, start) -> int:
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {}.counters AS c (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = c.value + 1 RETURNING value"
        ).format(sql.Identifier(schema)),
        (name, start),
    ).fetchone()
    return row["value"]


def new_id(conn, schema, obj) -> str:
    """A fresh 18-character Id with the object's key prefix."""
    prefix = describe(obj)["keyPrefix"]
    return salesforce_id(prefix, _next(conn, schema, "id:" + prefix, FIRST_NEW_RECORD))


# ---- values -------------------------------------------------------------------------------------

def coerce(obj: str, f: dict, value):
    """A JSON value checked against the field's type and length, in the form Salesforce stores it."""
    name, kind = f["name"], f["type"]
    if value is None or value == "" and kind not in ("string", "textarea"):
        return None
    bad = SalesforceError(400, "JSON_PARSER_ERROR" if not isinstance(value, str) else "INVALID_TYPE_ON_FIELD_IN_RECORD",
                          f"{f['label']}: value not of required type: {value}", [name])
    if kind in ("string", "textarea", "picklist", "email", "phone", "url", "id", "reference"):
        if not isinstance(value, str):
            raise bad
        limit = f["length"] or 255
        if len(value) > limit:
            raise SalesforceError(400, "STRING_TOO_LONG", f"{f['label']}: data value too large: {value[:40]}… "
                                  f"(max length={limit})", [name])
        if kind == "picklist" and f["picklistValues"] and value not in {p["value"] for p in f["picklistValues"]}:
            raise SalesforceError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                  f"{f['label']}: bad value for restricted picklist field: {value}", [name])
        if kind == "email" and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise SalesforceError(400, "INVALID_EMAIL_ADDRESS", f"{f['label']}: invalid email address: {value}", [name])
        if kind == "reference" and not looks_like_id(value):
            raise SalesforceError(400, "MALFORMED_ID", f"{f['label']}: id value of incorrect type: {value}", [name])
        return value
    if kind in ("double", "currency", "percent", "int"):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise bad from None
        if not isinstance(value, int | float):
            raise bad
        return int(value) if kind == "int" else float(value)
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "date":
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise bad from None
    if kind == "datetime":
        try:
            return format_datetime(soql._datetime(str(value)) if "T" in str(value) else
                                   datetime.fromisoformat(str(value)))
        except ValueError:
            raise bad from None
    raise bad


def _resolve_relationship(conn, schema, obj, key, value):
    """`"Contact": {"External_ID__c": "…"}` → the parent's Id, as Salesforce resolves it on write."""
    by_rel = {(f["relationshipName"] or "").lower(): f for f in describe(obj)["fields"] if f["type"] == "reference"}
    f = by_rel.get(key.lower())
    if f is None or not isinstance(value, dict) or len(value) != 1:
        raise SalesforceError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}", [key])
    (ext_field, ext_value), = value.items()
    target = f["referenceTo"][0]
    ext = field_of(target, ext_field)
    if not ext["externalId"]:
        raise SalesforceError(400, "INVALID_FIELD", f"{target}.{ext_field} is not an external id field", [key])
    rows = find_by(conn, schema, target, ext["name"], ext_value)
    if not rows:
        raise SalesforceError(400, "INVALID_FIELD", f"Foreign key external ID: {ext_value} not found for field "
                              f"{ext['name']} in entity {target}", [f["name"]])
    return f["name"], rows[0]["id"]


def prepare(conn, schema, obj, values: dict, *, creating: bool, current: dict | None = None) -> dict:
    """Check an incoming record body field by field; return the values to store."""
    out = {}
    for key, value in values.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            name, value = _resolve_relationship(conn, schema, obj, key, value)
            out[name] = value
            continue
        f = field_of(obj, key)
        allowed = f["createable"] if creating else f["updateable"]
        if not allowed:
            raise SalesforceError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: "
                                  f"{f['name']}. Please check the security settings of this field and verify that "
                                  "it is read/write for your profile or permission set.", [f["name"]])
        out[f["name"]] = coerce(obj, f, value)
    for name, value in out.items():
        f = field_of(obj, name)
        if f["type"] == "reference" and value is not None:
            target = key_prefix_object(value)
            if target not in f["referenceTo"] or not _exists(conn, schema, value):
                raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY",
                                      f"{f['label']}: id value of incorrect type: {value}", [name])
    merged = {**(current or {}), **out}
    if creating:
        for name, value in _defaults(obj).items():
            merged.setdefault(name, value)
            out.setdefault(name, value)
    missing = [f["name"] for f in describe(obj)["fields"] if not f["nillable"] and f["createable"]
               and not f["defaultedOnCreate"] and merged.get(f["name"]) is None]
    if missing:
        raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                              missing)
    _validation_rules(obj, merged)
    _refusals(conn, schema, obj, out)
    out.update(_computed(conn, schema, obj, merged, creating))
    return out


def _defaults(obj) -> dict:
    """What a new record gets for the fields it was not given: describe's defaults, the org's, its owner."""
    out = {f["name"]: f["defaultValue"] for f in describe(obj)["fields"]
           if f["createable"] and f["defaultValue"] is not None}
    out.update(DEFAULTS.get(obj, {}))
    if owned(obj):
        out["OwnerId"] = USER_ID  # the session's user owns what it creates
    return out


def _supports(obj, operation: str) -> None:
    """Refuse an insert, update or delete of an object that does not allow it (Organization, Profile, …)."""
    allowed = {"insert": "createable", "update": "updateable", "delete": "deletable"}[operation]
    if not describe(obj)[allowed]:
        raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj} does not support {operation}")


def _validation_rules(obj, r):
    """A few rules a real org would have, answered the way Salesforce answers a validation rule."""
    def fail(message, fields):
        raise SalesforceError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", message, fields)

    if obj == "Case" and r.get("Origin") == "Web" and not (r.get("Subject") or "").strip():
        fail("A case from the web needs a subject.", ["Subject"])
    if obj == "Contact" and r.get("Email") and "@" not in r["Email"]:
        fail("Email must contain @.", ["Email"])
    if obj == "Invoice__c" and (r.get("Amount__c") or 0) < 0:
        fail("An invoice amount cannot be negative.", ["Amount__c"])


# A refusal switch: while the settings table has `refuse:<Object>.<Field>`, every write that sets
# that field is refused as a validation rule would refuse it, with the setting's value as the
# message. Switch it on, let a write fail, switch it off, and "send again" succeeds: a refused
# write and its retry, on demand (docs/local-org.md).
REFUSE_PREFIX = "refuse:"
REFUSALS = "SELECT key, value FROM {}.settings WHERE key LIKE %s"
# The org's settings table (the server's daily API limit and session secret live there too).
SET_SETTING = "INSERT INTO {}.settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s"
ADD_SETTING = "INSERT INTO {}.settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"
GET_SETTING = "SELECT value FROM {}.settings WHERE key = %s"
CLEAR_SETTING = "DELETE FROM {}.settings WHERE key = %s"


def _refusal_key(obj, field_name) -> str:
    """`refuse:Contact.Phone`, whatever the case the names were given in."""
    return f"{REFUSE_PREFIX}{canonical_object(obj)}.{field_of(obj, field_name)['name']}"


def refuse_writes(conn, schema, obj, field_name, message="Refused by the local org's refusal switch.") -> None:
    """Switch on: refuse every write that sets `obj`.`field_name` (FIELD_CUSTOM_VALIDATION_EXCEPTION)."""
    key = _refusal_key(obj, field_name)
    conn.execute(sql.SQL(SET_SETTING).format(sql.Identifier(schema)), (key, message, message))


def accept_writes(conn, schema, obj, field_name) -> None:
    """Switch off what refuse_writes switched on."""
    conn.execute(sql.SQL(CLEAR_SETTING).format(sql.Identifier(schema)), (_refusal_key(obj, field_name),))


def _refusals(conn, schema, obj, values):
    """Refuse the write if it sets a field whose refusal switch is on."""
    for row in conn.execute(sql.SQL(REFUSALS).format(sql.Identifier(schema)), (REFUSE_PREFIX + "%",)):
        switched_obj, _, field_name = row["key"].removeprefix(REFUSE_PREFIX).partition(".")
        if switched_obj == obj and field_name in values:
            raise SalesforceError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", row["value"], [field_name])


def _computed(conn, schema, obj, r, creating) -> dict:
    out = {}
    if obj in ("Contact", "User"):
        out["Name"] = " ".join(p for p in (r.get("FirstName"), r.get("LastName")) if p)
    if obj == "PricebookEntry" and creating and r.get("Product2Id"):
        product = get(conn, schema, "Product2", r["Product2Id"])["fields"]
        out.update(Name=product.get("Name"), ProductCode=product.get("ProductCode"))
    if obj == "Order" and r.get("Status"):
        out["StatusCode"] = ORDER_STATUS_CATEGORY.get(r["Status"], "Draft")
    if obj == "OrderItem" and r.get("Quantity") is not None and r.get("UnitPrice") is not None:
        out["TotalPrice"] = round(r["Quantity"] * r["UnitPrice"], 2)
    if obj == "Case":
        out["IsClosed"] = r.get("Status") == "Closed"
    if creating:
        for name, width in AUTO_NUMBER_WIDTH.items():
            if any(f["name"] == name for f in describe(obj)["fields"]):
                out[name] = str(_next(conn, schema, "auto:" + obj + "." + name, FIRST_NEW_RECORD)).zfill(width)[-width:]
    return out


# ---- records ------------------------------------------------------------------------------------

def _exists(conn, schema, record_id) -> bool:
    return conn.execute(sql.SQL("SELECT 1 FROM {}.records WHERE id = %s AND NOT is_deleted").format(
        sql.Identifier(schema)), (full_id(record_id),)).fetchone() is not None


def get(conn, schema, obj, record_id, *, include_deleted=False) -> dict:
    """One record (as stored) or NOT_FOUND."""
    row = conn.execute(sql.SQL("SELECT * FROM {}.records WHERE id = %s AND object = %s").format(
        sql.Identifier(schema)), (full_id(record_id), obj)).fetchone()
    if row is None or (row["is_deleted"] and not include_deleted):
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    return row


def find_by(conn, schema, obj, field_name, value) -> list:
    """Live records whose field equals value (external-id lookups)."""
    # The field name is a literal, not a parameter, so the expression index on External_ID__c applies.
    return conn.execute(sql.SQL(
        "SELECT * FROM {}.records WHERE object = %s AND NOT is_deleted AND fields->>{} = %s ORDER BY id"
    ).format(sql.Identifier(schema), sql.Literal(field_name)), (obj, str(value))).fetchall()


def to_json(obj, row, fields=None) -> dict:
    """A record as the REST API returns it."""
    out = {"attributes": {"type": obj, "url": f"/services/data/v59.0/sobjects/{obj}/{row['id']}"}}
    names = fields or [f["name"] for f in describe(obj)["fields"]]
    for name in names:
        if name in SYSTEM_COLUMNS:
            value = row[SYSTEM_COLUMNS[name]]
            out[name] = format_datetime(value) if isinstance(value, datetime) else value
        else:
            out[name] = row["fields"].get(name)
    return out


def create(conn, schema, obj, values) -> str:
    """Insert a record; return its new Id."""
    _supports(obj, "insert")
    data = prepare(conn, schema, obj, values, creating=True)
    record_id = new_id(conn, schema, obj)
    conn.execute(sql.SQL(
        "INSERT INTO {}.records (id, object, fields, created_date, system_modstamp) "
        "VALUES (%s, %s, %s, {now}, {now})"
    ).format(sql.Identifier(schema), now=NOW), (record_id, obj, Jsonb(data)))
    return record_id


def update(conn, schema, obj, record_id, values) -> None:
    """Update a live record's fields."""
    _supports(obj, "update")
    row = get(conn, schema, obj, record_id)
    data = prepare(conn, schema, obj, values, creating=False, current=row["fields"])
    conn.execute(sql.SQL(
        "UPDATE {}.records SET fields = fields || %s, system_modstamp = {now}, last_modified_by_id = %s WHERE id = %s"
    ).format(sql.Identifier(schema), now=NOW), (Jsonb(data), USER_ID, row["id"]))


def delete(conn, schema, obj, record_id) -> None:
    """Move a record to the recycle bin: IsDeleted, visible to queryAll and deleted/."""
    _supports(obj, "delete")
    row = get(conn, schema, obj, record_id)
    conn.execute(sql.SQL(
        "UPDATE {}.records SET is_deleted = true, deleted_date = {now}, "
        "system_modstamp = {now} WHERE id = %s"
    ).format(sql.Identifier(schema), now=NOW), (row["id"],))


def hard_delete(conn, schema, obj, record_id) -> None:
    """Delete a record for good (Bulk API hardDelete): not in the recycle bin, gone from queryAll too."""
    row = get(conn, schema, obj, record_id, include_deleted=True)
    conn.execute(sql.SQL("DELETE FROM {}.records WHERE id = %s").format(sql.Identifier(schema)), (row["id"],))


def upsert(conn, schema, obj, ext_field, ext_value, values) -> tuple[str, bool]:
    """Create or update by external id; return (Id, created). Several matches → 300."""
    f = field_of(obj, ext_field)
    if not (f["externalId"] or f["name"] == "Id"):
        raise SalesforceError(400, "INVALID_FIELD", f"Field {f['name']} is not an external id field", [f["name"]])
    values = {k: v for k, v in values.items() if k.lower() != f["name"].lower()}
    # Serialise upserts of one key, as Salesforce does, so two at once cannot both create.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{obj}.{f['name']}={ext_value}",))
    rows = find_by(conn, schema, obj, f["name"], ext_value)
    if len(rows) > 1:
        raise SalesforceError(300, "MULTIPLE_CHOICES", f"more than one record found for external id field "
                              f"{f['name']} with value {ext_value}")
    if rows:
        update(conn, schema, obj, rows[0]["id"], values)
        return rows[0]["id"], False
    return create(conn, schema, obj, {**values, f["name"]: ext_value}), True


def dumps(value) -> str:
    """JSON for values stored by the org (dates are already strings)."""
    return json.dumps(value, default=str)
