"""What the org checks and computes on every write, as Salesforce does: from a request body to the values stored.

Field by field: types and lengths, restricted picklists, read-only fields, parents named by
external id, lookups that must name a live record of the right object, unique fields; then
required fields, a few validation rules, the refusal switches (standins/org/refusals.py) and computed
fields (Contact.Name, Order.StatusCode, auto-numbers, a file's size and checksum). On insert, a
ContentVersion joins its file (a new ContentDocument, or the next version of the one it names). On
delete, each child relationship decides: children go with their parent where describe says
`cascadeDelete` (even a child that cannot be deleted alone, as a ContentVersion), a required lookup
refuses the delete (DELETE_FAILED), any other lookup is cleared.

The rules read records through store, and store runs them on every write: the two modules import
each other, and neither touches the other while it is being imported.
"""

import re
from datetime import date, datetime

from psycopg import sql
from psycopg.types.json import Jsonb

from standins.org import files, refusals, soql, store
from standins.org.describe import child_relationships, describe, field_of, key_prefix_object, owned
from standins.org.errors import SalesforceError
from standins.org.ids import USER_ID, canonical_id

AUTO_NUMBER_WIDTH = {"CaseNumber": 8, "OrderNumber": 8, "OrderItemNumber": 10}
ORDER_STATUS_CATEGORY = {"Draft": "Draft", "Activated": "Activated", "Shipped": "Activated",
                         "Delivered": "Activated", "Cancelled": "Cancelled"}
DEFAULTS = {"Case": {"Status": "New", "Priority": "Medium"}, "Product2": {"IsActive": False},
            "Order": {"TotalAmount": 0.0}, "ContentVersion": {"ContentLocation": "S", "Origin": "C"}}


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
        if kind == "reference":
            # Salesforce stores (and answers) the 18-character form, whichever form it was given.
            record_id = canonical_id(value)
            if record_id is None:
                raise SalesforceError(400, "MALFORMED_ID", f"{f['label']}: id value of incorrect type: {value}",
                                      [name])
            return record_id
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
            return store.format_datetime(soql._datetime(str(value)) if "T" in str(value) else
                                         datetime.fromisoformat(str(value)))
        except ValueError:
            raise bad from None
    if kind == "base64":
        return files.decode(obj, f, value)
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
    rows = store.find_by(conn, schema, target, ext["name"], ext_value)
    if not rows:
        raise SalesforceError(400, "INVALID_FIELD", f"Foreign key external ID: {ext_value} not found for field "
                              f"{ext['name']} in entity {target}", [f["name"]])
    return f["name"], rows[0]["id"]


def prepare(conn, schema, obj, values: dict, *, creating: bool, current: dict | None = None,
            record_id: str | None = None, unique_checked: str | None = None) -> dict:
    """Check an incoming record body field by field (names in any case); return the values to store."""
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
    _check_lookups(conn, schema, obj, out)
    merged = {**(current or {}), **out}
    if creating:
        for name, value in _defaults(obj).items():
            merged.setdefault(name, value)
            out.setdefault(name, value)
    missing = [f["name"] for f in describe(obj)["fields"] if not f["nillable"] and f["createable"]
               and not f["defaultedOnCreate"] and merged.get(f["name"]) is None] + files.missing(obj, merged, creating)
    if missing:
        raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                              missing)
    _validation_rules(obj, merged)
    refusals.check_write(conn, schema, obj, "insert" if creating else "update", out, record_id)
    _check_unique(conn, schema, obj, {k: v for k, v in out.items() if k != unique_checked}, record_id)
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


def supports(obj, operation: str) -> None:
    """Refuse an insert, update or delete of an object that does not allow it (Organization, Profile, …)."""
    allowed = {"insert": "createable", "update": "updateable", "delete": "deletable"}[operation]
    if not describe(obj)[allowed]:
        raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj} does not support {operation}")


def _check_lookups(conn, schema, obj, values):
    """Each lookup names a live record of an object it may point at."""
    for name, value in values.items():
        f = field_of(obj, name)
        if f["type"] != "reference" or value is None:
            continue
        if key_prefix_object(value) not in f["referenceTo"]:
            raise SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION",
                                  f"{f['label']}: id value of incorrect type: {value}", [name])
        parent = store.record(conn, schema, value)
        if parent is None:
            raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if parent["is_deleted"]:
            raise SalesforceError(400, "ENTITY_IS_DELETED", "entity is deleted")


def _check_unique(conn, schema, obj, values, record_id):
    """A unique field (describe `unique`) holds a value no other live record of the object has."""
    for name, value in values.items():
        if value in (None, "") or not field_of(obj, name)["unique"]:
            continue
        store.lock_value(conn, obj, name, value)  # two writes of one value at once: the second sees the first
        holders = [r["id"] for r in store.find_by(conn, schema, obj, name, value) if r["id"] != record_id]
        if holders:
            raise SalesforceError(400, "DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on "
                                  f"record with id: {holders[0]}")


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


def _computed(conn, schema, obj, r, creating) -> dict:
    out = {}
    if obj in ("Contact", "User"):
        out["Name"] = " ".join(p for p in (r.get("FirstName"), r.get("LastName")) if p)
    if obj == "PricebookEntry" and creating and r.get("Product2Id"):
        product = store.get(conn, schema, "Product2", r["Product2Id"])["fields"]
        out.update(Name=product.get("Name"), ProductCode=product.get("ProductCode"))
    if obj == "Order" and r.get("Status"):
        out["StatusCode"] = ORDER_STATUS_CATEGORY.get(r["Status"], "Draft")
    if obj == "OrderItem" and r.get("Quantity") is not None and r.get("UnitPrice") is not None:
        out["TotalPrice"] = round(r["Quantity"] * r["UnitPrice"], 2)
    if obj == "Case":
        out["IsClosed"] = r.get("Status") == "Closed"
    out.update(files.computed(obj, r, creating))
    if creating:
        for name, width in AUTO_NUMBER_WIDTH.items():
            if any(f["name"] == name for f in describe(obj)["fields"]):
                out[name] = str(store.next_auto_number(conn, schema, obj, name)).zfill(width)
    return out


# ---- inserts ------------------------------------------------------------------------------------

# A file's versions, oldest first, and the statement that makes versions no longer the latest.
VERSIONS_OF = ("SELECT id FROM {} WHERE object = 'ContentVersion' AND fields->>'ContentDocumentId' = %s "
               "ORDER BY created_date, id")
NOT_LATEST = """UPDATE {} SET fields = fields || '{{"IsLatest": false}}' WHERE id = ANY(%s)"""
TRANSACTION_TIME = "SELECT {} AS now"


def before_insert(conn, schema, obj, record_id, data) -> None:
    """What inserting a record writes besides it: a ContentVersion's document, as Salesforce keeps files.

    A first version gets a new ContentDocument; a version naming a ContentDocumentId becomes that
    document's next version and its latest (the earlier ones are no longer IsLatest).
    """
    if obj != "ContentVersion":
        return
    records = sql.Identifier(schema, "records")
    now = store.format_datetime(conn.execute(sql.SQL(TRANSACTION_TIME).format(store.NOW)).fetchone()["now"])
    document = {"Title": data.get("Title"), "ContentSize": data.get("ContentSize"), "FileType": data.get("FileType"),
                "FileExtension": data.get("FileExtension"), "LatestPublishedVersionId": record_id,
                "ContentModifiedDate": now}
    data.update(IsLatest=True, ContentModifiedDate=now)
    if data.get("ContentDocumentId"):
        earlier = [r["id"] for r in conn.execute(sql.SQL(VERSIONS_OF).format(records), (data["ContentDocumentId"],))]
        conn.execute(sql.SQL(NOT_LATEST).format(records), (earlier,))
        conn.execute(sql.SQL(store.UPDATE).format(sql.Identifier(schema), now=store.NOW),
                     (Jsonb(document), USER_ID, data["ContentDocumentId"]))
        data["VersionNumber"] = str(len(earlier) + 1)
        return
    document_id = store.new_id(conn, schema, "ContentDocument")
    conn.execute(sql.SQL(store.INSERT).format(sql.Identifier(schema), now=store.NOW), (
        document_id, "ContentDocument",
        Jsonb({**document, "OwnerId": data.get("OwnerId", USER_ID), "IsArchived": False, "Description": None})))
    data.update(ContentDocumentId=document_id, VersionNumber="1")


# ---- deletes ------------------------------------------------------------------------------------

def before_delete(conn, schema, obj, row) -> None:
    """What deleting `row` does to its children: refused, cascaded or cleared, as each relationship says."""
    refusals.check_write(conn, schema, obj, "delete", {}, row["id"])
    related = [(rel, store.children(conn, schema, rel["childSObject"], rel["field"], row["id"]))
               for rel in child_relationships(obj)]
    for rel, children in related:
        if children and not rel["cascadeDelete"] and not field_of(rel["childSObject"], rel["field"])["nillable"]:
            child = describe(rel["childSObject"])
            raise SalesforceError(400, "DELETE_FAILED", f"Your attempt to delete {record_name(row)} could not be "
                                  f"completed because it is associated with the following "
                                  f"{child['labelPlural'].lower()}.: "
                                  f"{', '.join(record_name(c) for c in children[:10])}")
    for rel, children in related:
        if rel["cascadeDelete"]:
            for child in children:
                store.delete(conn, schema, rel["childSObject"], child["id"], with_parent=True)
        elif children:
            store.clear_lookup(conn, schema, rel["childSObject"], rel["field"], row["id"])


def record_name(row) -> str:
    """What Salesforce calls a record in messages: its Name, else its auto-number, else its Id."""
    fields = row["fields"]
    for name in ("Name", *AUTO_NUMBER_WIDTH):
        if fields.get(name):
            return fields[name]
    return row["id"]
