"""Support cases: the account's cases, and filing one about an order — written to Connect's Case table.

Case is a read-write mapping, so an INSERT here is what sends a case to Salesforce: the table's
trigger marks the row PENDING and logs it for Connect. The row carries a new UUID in
External_ID__c (the mapping's upsert field), so Connect can match Salesforce's copy back to it
and the portal can name the case before Salesforce has given it an Id.
"""

import uuid

from psycopg import sql

from core import connect, field_values, trigger_log

# The column naming the Contact by its external id, for a Contact that exists only in Postgres.
CONTACT_BY_EXTERNAL_ID = connect.relationship_column("Contact", "External_ID__c")
# What a customer fills in; the form's choices are the picklists Salesforce's describe lists.
FIELDS = ("Subject", "Description", "Type", "Priority")
TYPES = tuple(p["value"] for p in connect.field_definition("Case", "Type")["picklistValues"])
PRIORITIES = tuple(p["value"] for p in connect.field_definition("Case", "Priority")["picklistValues"])
# The columns filing a case writes: what a retry re-logs for a case Salesforce already has.
COLUMNS = ("external_id__c", "subject", "description", "type", "priority", "status", "origin", "accountid",
           "contactid", CONTACT_BY_EXTERNAL_ID, "order__c")

CASE_COLUMNS = """c.sfid, c.external_id__c, c.casenumber, c.subject, c.description, c.status, c.priority, c.type,
       c.createddate, c.order__c, c.contactid, c._hc_lastop, c._hc_err, c.systemmodstamp, o.ordernumber"""
# One of the account's cases, by Salesforce Id or, before Connect has inserted it, by external id.
MATCH = "(c.sfid = %(key)s OR c.external_id__c = %(key)s) AND c.accountid = %(account)s"

# Newest first: Postgres-born rows have no CreatedDate until Connect reads them back, so the
# table's own sequence gives the order.
LIST_CASES = """
SELECT {columns}, {retrying} AS retrying
FROM {s}."case" c
LEFT JOIN {s}."order" o ON o.sfid = c.order__c AND o.accountid = c.accountid
WHERE c.accountid = %(account)s AND NOT coalesce(c.isdeleted, false) {filters}
ORDER BY c.id DESC
LIMIT %(limit)s
"""
FOR_ORDER = " AND c.order__c = %(order)s"

GET_CASE = """
SELECT {columns}, {retrying} AS retrying
FROM {s}."case" c
LEFT JOIN {s}."order" o ON o.sfid = c.order__c AND o.accountid = c.accountid
WHERE {match}
LIMIT 1
"""

# One statement does the scoping: the contact must be the user's and on the account, and the
# order (if any) must be the account's, or nothing is inserted. A Contact with an sfid goes in
# ContactId; one that exists only in Postgres goes in the relationship column, ContactId NULL.
# The values are selected in the order of COLUMNS ({written}).
INSERT_CASE = """
INSERT INTO {s}."case" ({written})
SELECT %(external_id)s, %(subject)s, %(description)s, %(type)s, %(priority)s, 'New', 'Web',
       k.accountid, k.sfid, CASE WHEN k.sfid IS NULL THEN k.external_id__c END, %(order)s
FROM {s}.contact k
WHERE (k.sfid = %(contact_sfid)s OR k.external_id__c = %(contact_external_id)s)
  AND k.accountid = %(account)s
  AND (%(order)s::varchar IS NULL
       OR EXISTS (SELECT 1 FROM {s}."order" o WHERE o.sfid = %(order)s AND o.accountid = %(account)s))
LIMIT 1
RETURNING external_id__c
"""

SYNC_STATE = """
SELECT c._hc_lastop, c._hc_err, {retrying} AS retrying FROM {s}."case" c
WHERE {match}
LIMIT 1
"""


def _query(text: str, schema: str, filters: str = "") -> sql.Composed:
    """Compose a case query with its columns, schema and optional filters."""
    return sql.SQL(text).format(
        columns=sql.SQL(CASE_COLUMNS),
        s=sql.Identifier(schema),
        match=sql.SQL(MATCH),
        retrying=trigger_log.retrying(schema, "case", "c"),
        written=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        filters=sql.SQL(filters),
    )


def list_query(schema: str, *, for_order: bool = False) -> sql.Composed:
    """LIST_CASES for the schema (params: account, limit, and order when `for_order`)."""
    return _query(LIST_CASES, schema, FOR_ORDER if for_order else "")


def list_cases(conn, schema: str, account: str, *, order: str | None = None, limit: int = 100) -> list[dict]:
    """The account's cases, newest first (only those about `order` when given)."""
    params = {"account": account, "limit": limit, "order": order}
    return conn.execute(list_query(schema, for_order=bool(order)), params).fetchall()


def get_case(conn, schema: str, account: str, key: str) -> dict | None:
    """One of the account's cases by sfid or external id, or None."""
    return conn.execute(_query(GET_CASE, schema), {"account": account, "key": key}).fetchone()


def case_values(raw: dict) -> dict:
    """Checked Case columns from submitted subject/description/type/priority; field_values.Invalid if not."""
    return field_values.clean_all("Case", {f: raw.get(f.lower()) for f in FIELDS}, required=("Subject",))


def file_case(conn, schema: str, customer, values: dict, order: str | None) -> str | None:
    """Insert a case for the customer's contact (about `order` if given); its external id, or None if
    the order is not the account's. `values` are checked columns: subject, description, type, priority."""
    params = {
        "external_id": str(uuid.uuid4()),
        "subject": values.get("subject"),
        "description": values.get("description"),
        "type": values.get("type"),
        "priority": values.get("priority"),
        "order": order,
        "account": customer.account_sfid,
        "contact_sfid": customer.contact_sfid,
        "contact_external_id": customer.contact_external_id,
    }
    row = conn.execute(_query(INSERT_CASE, schema), params).fetchone()
    return row["external_id__c"] if row else None


def sync_state(conn, schema: str, account: str, key: str) -> dict | None:
    """The case's `_hc_lastop` / `_hc_err` and whether a retry is on its way, or None if it is not the account's."""
    return conn.execute(_query(SYNC_STATE, schema), {"account": account, "key": key}).fetchone()
