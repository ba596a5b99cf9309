"""The local org's records, in a Postgres schema of its own (default `local_org`), and the settings beside them.

One table holds every object's records as JSON (field API name → the value as Salesforce's REST API
writes it), with the system fields as columns so SOQL polling by SystemModstamp is an index scan.
Every write passes the org's rules first (standins/org/rules.py: validation, refusals, computed
fields, what a delete does to children) and stamps SystemModstamp with the transaction's time, so
records written together share it. A request naming a record that is not there gets `Unavailable`,
with the reason (malformed Id, another object's Id, no such record, deleted) each API answers in its way.
"""

import json
from datetime import UTC, datetime

from psycopg import sql
from psycopg.types.json import Jsonb

from core.db import compose
from standins.org import files, refusals, rules
from standins.org.describe import describe, field_of, key_prefix_object
from standins.org.errors import SalesforceError
from standins.org.ids import USER_ID, canonical_id, salesforce_id

# Ids the org hands out start above any demo-data record number, so they never collide.
FIRST_NEW_RECORD = 100_000_000
# The audit fields, kept as columns. LastModifiedDate is SystemModstamp: the org makes no system-only
# changes, so every write moves both, as a user's write does in Salesforce.
SYSTEM_COLUMNS = {"Id": "id", "CreatedDate": "created_date", "SystemModstamp": "system_modstamp",
                  "IsDeleted": "is_deleted", "LastModifiedDate": "system_modstamp", "CreatedById": "created_by_id",
                  "LastModifiedById": "last_modified_by_id"}


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
-- The bytes of blob fields (ContentVersion.VersionData, Attachment.Body); the record's field holds its URL.
CREATE TABLE IF NOT EXISTS {schema}.blobs (
    record_id varchar(18) NOT NULL, field text NOT NULL, data bytea NOT NULL, PRIMARY KEY (record_id, field));
-- Who created and last changed a record: every session is the integration user's, so both are it
-- (added in place, filled for every existing record, in orgs created before they were kept).
ALTER TABLE {schema}.records ADD COLUMN IF NOT EXISTS created_by_id varchar(18) NOT NULL DEFAULT {user};
ALTER TABLE {schema}.records ADD COLUMN IF NOT EXISTS last_modified_by_id varchar(18) NOT NULL DEFAULT {user};
-- Change notifications (what a PushTopic or Change Data Capture channel tells a subscriber): every
-- statement that writes records sends NOTIFY '<schema>.record_changes' once per object it touched,
-- when its transaction commits. The local Connect's accelerated polling listens (docs/local-standins.md).
CREATE OR REPLACE FUNCTION {schema}.notify_record_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.record_changes', object) FROM (SELECT DISTINCT object FROM changed) o;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS records_inserted ON {schema}.records;
CREATE TRIGGER records_inserted AFTER INSERT ON {schema}.records REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_record_changes();
DROP TRIGGER IF EXISTS records_updated ON {schema}.records;
CREATE TRIGGER records_updated AFTER UPDATE ON {schema}.records REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_record_changes();
"""


def changes_channel(schema: str) -> str:
    """The NOTIFY channel of the org's change notifications (payload: the object's API name)."""
    return f"{schema}.record_changes"


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


NEXT_NUMBER = """
INSERT INTO {}.counters AS c (name, value) VALUES (%s, %s)
ON CONFLICT (name) DO UPDATE SET value = c.value + 1 RETURNING value
"""


def next_number(conn, schema, name, start) -> int:
    """The next value of a named counter (Ids, auto-numbers), starting at `start`."""
    row = conn.execute(sql.SQL(NEXT_NUMBER).format(sql.Identifier(schema)), (name, start)).fetchone()
    return row["value"]


BUMP_NUMBER = "UPDATE {}.counters SET value = value + 1 WHERE name = %s RETURNING value"
# An auto-number field continues after the highest number its records hold (seeded or loaded), as in an org.
HIGHEST_NUMBER = """
SELECT max((fields->>%(field)s)::bigint) AS highest FROM {}.records
WHERE object = %(object)s AND fields->>%(field)s ~ '^[0-9]{{1,18}}$'
"""


def next_auto_number(conn, schema, obj, field_name) -> int:
    """The next value of an auto-number field (CaseNumber, OrderNumber, …): one past the highest in use."""
    name = f"auto:{obj}.{field_name}"
    row = conn.execute(sql.SQL(BUMP_NUMBER).format(sql.Identifier(schema)), (name,)).fetchone()
    if row:
        return row["value"]
    highest = conn.execute(sql.SQL(HIGHEST_NUMBER).format(sql.Identifier(schema)),
                           {"field": field_name, "object": obj}).fetchone()["highest"]
    return next_number(conn, schema, name, (highest or 0) + 1)


def new_id(conn, schema, obj) -> str:
    """A fresh 18-character Id with the object's key prefix."""
    prefix = describe(obj)["keyPrefix"]
    return salesforce_id(prefix, next_number(conn, schema, "id:" + prefix, FIRST_NEW_RECORD))


# The org's settings table (the server's daily API limit, session secret and refusal switches live there too).
SET_SETTING = "INSERT INTO {}.settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s"
ADD_SETTING = "INSERT INTO {}.settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"
GET_SETTING = "SELECT value FROM {}.settings WHERE key = %s"
CLEAR_SETTING = "DELETE FROM {}.settings WHERE key = %s"


def refuse_writes(conn, schema, obj, field_name, message="Refused by the local org's refusal switch.") -> None:
    """Switch on a validation rule on `obj`.`field_name` (standins/org/refusals.py has every kind of refusal)."""
    refusals.switch_on(conn, schema, "validation", obj, field_name, message)


def accept_writes(conn, schema, obj, field_name) -> None:
    """Switch off what refuse_writes switched on."""
    refusals.switch_off(conn, schema, "validation", obj, field_name)


# ---- records ------------------------------------------------------------------------------------

# What /sobjects/<Object>/<Id> answers when the Id names no live record of the object, by reason:
# (status, errorCode, message, fields). Other APIs answer the same reasons their own way
# (Unavailable.answered).
UNAVAILABLE = {
    # Not an Id at all: Salesforce takes the segment for an external id field it does not know.
    "malformed": (404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: {id}", []),
    "wrong_type": (400, "MALFORMED_ID", "{label} ID: id value of incorrect type: {id}", ["Id"]),
    "missing": (404, "NOT_FOUND", "The requested resource does not exist", []),
    "deleted": (404, "ENTITY_IS_DELETED", "entity is deleted", []),
}


class Unavailable(SalesforceError):
    """A request named a record that is not there; `reason` says why (a key of UNAVAILABLE)."""

    def __init__(self, reason, obj, record_id, answers=UNAVAILABLE):
        status, code, message, fields = answers[reason]
        label = describe(obj)["label"] if obj else ""
        super().__init__(status, code, message.format(id=record_id, label=label), fields)
        self.reason, self.obj, self.record_id = reason, obj, record_id

    def answered(self, answers) -> "Unavailable":
        """The same problem, as another API answers it."""
        return Unavailable(self.reason, self.obj, self.record_id, answers)


RECORD = "SELECT * FROM {}.records WHERE id = %s"


def record(conn, schema, record_id) -> dict | None:
    """The record an Id names, whatever its object, deleted or not; None if there is none."""
    canonical = canonical_id(record_id)
    if canonical is None:
        return None
    return conn.execute(sql.SQL(RECORD).format(sql.Identifier(schema)), (canonical,)).fetchone()


def get(conn, schema, obj, record_id) -> dict:
    """The live record of `obj` an Id names (15 or 18 characters), or Unavailable."""
    canonical = canonical_id(record_id)
    if canonical is None:
        raise Unavailable("malformed", obj, record_id)
    if key_prefix_object(canonical) != obj:
        raise Unavailable("wrong_type", obj, record_id)
    row = record(conn, schema, canonical)
    if row is None or row["object"] != obj:
        raise Unavailable("missing", obj, record_id)
    if row["is_deleted"]:
        raise Unavailable("deleted", obj, record_id)
    return row


# The field name is a literal, not a parameter, so the expression index on External_ID__c applies; `fields ? name`
# (true of any record the equality matches) is the partial index's condition, without which it is never used.
RECORDS_WITH_VALUE = ("SELECT * FROM {} WHERE object = %s AND NOT is_deleted "
                      "AND fields ? {name} AND fields->>{name} = %s ORDER BY id")


def find_by(conn, schema, obj, field_name, value) -> list:
    """Live records whose field equals value (external-id lookups, unique fields)."""
    return conn.execute(sql.SQL(RECORDS_WITH_VALUE).format(sql.Identifier(schema, "records"),
                                                           name=sql.Literal(field_name)), (obj, str(value))).fetchall()


def children(conn, schema, obj, lookup, parent_id) -> list:
    """Live records of `obj` whose lookup field names the parent."""
    return find_by(conn, schema, obj, lookup, parent_id)


def lock_value(conn, obj, field_name, value) -> None:
    """Serialise writes of one value of one field (upserts, unique fields) until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{obj}.{field_name}={value}",))


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


INSERT = "INSERT INTO {}.records (id, object, fields, created_date, system_modstamp) VALUES (%s, %s, %s, {now}, {now})"


def create(conn, schema, obj, values, *, unique_checked: str | None = None) -> str:
    """Insert a record; return its new Id. `unique_checked`: a unique field the caller already locked and
    looked up (an upsert's key), so its value is not looked up twice."""
    rules.supports(obj, "insert")
    data = rules.prepare(conn, schema, obj, values, creating=True, unique_checked=unique_checked)
    record_id = new_id(conn, schema, obj)
    blobs = files.take(obj, record_id, data)
    rules.before_insert(conn, schema, obj, record_id, data)
    conn.execute(sql.SQL(INSERT).format(sql.Identifier(schema), now=NOW), (record_id, obj, Jsonb(data)))
    files.save(conn, schema, record_id, blobs)
    return record_id


UPDATE = "UPDATE {}.records SET fields = fields || %s, system_modstamp = {now}, last_modified_by_id = %s WHERE id = %s"


def update(conn, schema, obj, record_id, values) -> str:
    """Update a live record's fields; return its 18-character Id."""
    row = get(conn, schema, obj, record_id)
    rules.supports(obj, "update")
    data = rules.prepare(conn, schema, obj, values, creating=False, current=row["fields"], record_id=row["id"])
    blobs = files.take(obj, row["id"], data)
    conn.execute(sql.SQL(UPDATE).format(sql.Identifier(schema), now=NOW), (Jsonb(data), USER_ID, row["id"]))
    files.save(conn, schema, row["id"], blobs)
    return row["id"]


DELETE = "UPDATE {}.records SET is_deleted = true, deleted_date = {now}, system_modstamp = {now} WHERE id = %s"


def delete(conn, schema, obj, record_id, *, with_parent=False) -> str:
    """Move a record (and the children that go with it) to the recycle bin: IsDeleted, seen by queryAll and
    deleted/; return its 18-character Id. A child going `with_parent` goes even if it cannot be deleted alone."""
    if not with_parent:
        rules.supports(obj, "delete")
    row = get(conn, schema, obj, record_id)
    rules.before_delete(conn, schema, obj, row)
    conn.execute(sql.SQL(DELETE).format(sql.Identifier(schema), now=NOW), (row["id"],))
    return row["id"]


HARD_DELETE = "DELETE FROM {}.records WHERE id = %s"


def hard_delete(conn, schema, obj, record_id) -> None:
    """Delete a record for good (Bulk API hardDelete): not in the recycle bin, gone from queryAll too."""
    try:
        row = get(conn, schema, obj, record_id)
    except Unavailable as exc:
        if exc.reason != "deleted":
            raise
        row = record(conn, schema, record_id)
    refusals.check_write(conn, schema, obj, "delete", {}, row["id"])  # the one write that skips the rules
    conn.execute(sql.SQL(HARD_DELETE).format(sql.Identifier(schema)), (row["id"],))


CLEAR_LOOKUP = """
UPDATE {records} SET fields = jsonb_set(fields, ARRAY[{field}], 'null'), system_modstamp = {now}
 WHERE object = %s AND NOT is_deleted AND fields->>{field} = %s
"""


def clear_lookup(conn, schema, obj, lookup, parent_id) -> None:
    """Empty the lookup field of the live records of `obj` that name a parent being deleted."""
    conn.execute(sql.SQL(CLEAR_LOOKUP).format(records=sql.Identifier(schema, "records"), field=sql.Literal(lookup),
                                              now=NOW), (obj, parent_id))


def upsert(conn, schema, obj, ext_field, ext_value, values) -> tuple[str, bool]:
    """Create or update by external id; return (Id, created). Several matches → 300."""
    f = field_of(obj, ext_field)
    if not (f["externalId"] or f["name"] == "Id"):
        raise SalesforceError(400, "INVALID_FIELD", f"Field {f['name']} is not an external id field", [f["name"]])
    values = {k: v for k, v in values.items() if k.lower() != f["name"].lower()}
    # Serialise upserts of one key, as Salesforce does, so two at once cannot both create.
    lock_value(conn, obj, f["name"], ext_value)
    rows = find_by(conn, schema, obj, f["name"], ext_value)
    if len(rows) > 1:
        raise SalesforceError(300, "MULTIPLE_CHOICES", f"more than one record found for external id field "
                              f"{f['name']} with value {ext_value}")
    if rows:
        update(conn, schema, obj, rows[0]["id"], values)
        return rows[0]["id"], False
    return create(conn, schema, obj, {**values, f["name"]: ext_value}, unique_checked=f["name"]), True


def dumps(value) -> str:
    """JSON for values stored by the org (dates are already strings)."""
    return json.dumps(value, default=str)
