"""The logged-in customer's own Contact: read it, and change its phone and mailing address.

Contact is a read-write mapping: an UPDATE here is what Connect sends to Salesforce. The update
only runs when a value really changes, because an unchanged update would still mark the row
PENDING while Connect ignores its empty log row, leaving "Sending to Salesforce…" forever.
"""

from psycopg import sql

from core import field_values, trigger_log

EDITABLE = ("Phone", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry")
COLUMNS = tuple(f.lower() for f in EDITABLE)

# The user's Contact: by sfid, or by external id while it exists only in Postgres; always on the account.
MATCH = "(c.sfid = %(contact_sfid)s OR c.external_id__c = %(contact_external_id)s) AND c.accountid = %(account)s"

GET_CONTACT = """
SELECT c.sfid, c.external_id__c, c.firstname, c.lastname, c.name, c.email, c.phone, c.mobilephone,
       c.mailingstreet, c.mailingcity, c.mailingstate, c.mailingpostalcode, c.mailingcountry,
       c._hc_lastop, c._hc_err, c.systemmodstamp, {retrying} AS retrying, a.name AS account_name, a.accountnumber
FROM {s}.contact c
JOIN {s}.account a ON a.sfid = c.accountid
WHERE {match}
LIMIT 1
"""

UPDATE_CONTACT = """
UPDATE {s}.contact c SET {assignments}
WHERE {match} AND ({columns}) IS DISTINCT FROM ({values})
RETURNING c._hc_lastop
"""

SYNC_STATE = "SELECT c._hc_lastop, c._hc_err, {retrying} AS retrying FROM {s}.contact c WHERE {match} LIMIT 1"


def match_params(customer) -> dict:
    """The parameters MATCH finds the customer's own Contact on its account with."""
    return {
        "account": customer.account_sfid,
        "contact_sfid": customer.contact_sfid,
        "contact_external_id": customer.contact_external_id,
    }


def _query(text: str, schema: str, **parts) -> sql.Composed:
    """Compose a contact query with the schema and the own-Contact match."""
    return sql.SQL(text).format(
        s=sql.Identifier(schema), match=sql.SQL(MATCH), retrying=trigger_log.retrying(schema, "contact", "c"), **parts
    )


def contact_values(raw: dict) -> dict:
    """Checked Contact columns from the phone and mailing fields in `raw` (by column); field_values.Invalid if not."""
    return field_values.clean_all("Contact", {f: raw[f.lower()] for f in EDITABLE if f.lower() in raw})


def get_contact(conn, schema: str, customer) -> dict | None:
    """The customer's own Contact with its account's name."""
    return conn.execute(_query(GET_CONTACT, schema), match_params(customer)).fetchone()


def update_contact(conn, schema: str, customer, values: dict) -> bool:
    """Write changed phone / mailing values (checked columns → values); True if anything changed."""
    columns = [c for c in COLUMNS if c in values]
    if not columns:
        return False
    query = _query(
        UPDATE_CONTACT,
        schema,
        assignments=sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in columns
        ),
        columns=sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in columns),
        values=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Placeholder(c)) for c in columns),
    )
    return conn.execute(query, {**match_params(customer), **{c: values[c] for c in columns}}).fetchone() is not None


def sync_state(conn, schema: str, customer) -> dict | None:
    """The Contact's `_hc_lastop` / `_hc_err`, and whether a retry of it is on its way."""
    return conn.execute(_query(SYNC_STATE, schema), match_params(customer)).fetchone()
