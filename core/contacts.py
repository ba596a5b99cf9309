"""The logged-in customer's own Contact: read it, and change its phone and mailing address.

Contact is a read-write mapping: an UPDATE here is what Connect sends to Salesforce. The update
only runs when a value really changes, because an unchanged update would still mark the row
PENDING while Connect ignores its empty log row, leaving "Sending to Salesforce…" forever.
"""

from psycopg import sql

EDITABLE = ("Phone", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry")
_COLUMNS = tuple(f.lower() for f in EDITABLE)

# The user's Contact: by sfid, or by external id while it exists only in Postgres; always on the account.
MATCH = "(c.sfid = %(contact_sfid)s OR c.external_id__c = %(contact_external_id)s) AND c.accountid = %(account)s"

GET_CONTACT = """
SELECT c.sfid, c.external_id__c, c.firstname, c.lastname, c.name, c.email, c.phone, c.mobilephone,
       c.mailingstreet, c.mailingcity, c.mailingstate, c.mailingpostalcode, c.mailingcountry,
       c._hc_lastop, c._hc_err, a.name AS account_name, a.accountnumber
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

# Retrying a FAILED update. Connect's log trigger records only the columns that changed, so
# writing the same values again would log nothing to send. Inside one transaction the editable
# columns are first moved away from their values as Connect's own write (xmlbinary 'hex': no log
# row), then set back as an app write: the net change is nil, and the log gets one NEW row that
# carries every editable value, as the original update did.
MOVE_AWAY = """
UPDATE {s}.contact c SET {assignments}
WHERE {match} AND c._hc_lastop = 'FAILED'
RETURNING c.phone
"""
PUT_BACK = """
UPDATE {s}.contact c SET {assignments}
WHERE {match}
"""

SYNC_STATE = "SELECT c._hc_lastop, c._hc_err FROM {s}.contact c WHERE {match} LIMIT 1"


def _params(customer) -> dict:
    """The parameters that find the customer's own Contact on its account."""
    return {
        "account": customer.account_sfid,
        "contact_sfid": customer.contact_sfid,
        "contact_external_id": customer.contact_external_id,
    }


def _query(text: str, schema: str, **parts) -> sql.Composed:
    """Compose a contact query with the schema and the own-Contact match."""
    return sql.SQL(text).format(s=sql.Identifier(schema), match=sql.SQL(MATCH), **parts)


def get_contact(conn, schema: str, customer) -> dict | None:
    """The customer's own Contact with its account's name."""
    return conn.execute(_query(GET_CONTACT, schema), _params(customer)).fetchone()


def update_contact(conn, schema: str, customer, values: dict) -> bool:
    """Write changed phone / mailing values (checked columns → values); True if anything changed."""
    columns = [c for c in _COLUMNS if c in values]
    query = _query(
        UPDATE_CONTACT,
        schema,
        assignments=sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in columns
        ),
        columns=sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in columns),
        values=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Placeholder(c)) for c in columns),
    )
    return conn.execute(query, {**_params(customer), **{c: values[c] for c in columns}}).fetchone() is not None


def retry_update(conn, schema: str, customer) -> bool:
    """Send a FAILED contact update again (see MOVE_AWAY); False if the contact has not failed."""
    away = sql.SQL(", ").join(
        sql.SQL("{c} = CASE WHEN c.{c} IS NULL THEN '' END").format(c=sql.Identifier(c)) for c in _COLUMNS
    )
    with conn.transaction():
        saved = conn.execute(_query(GET_CONTACT, schema) + sql.SQL(" FOR UPDATE OF c"), _params(customer)).fetchone()
        if saved is None or saved["_hc_lastop"] != "FAILED":
            return False
        conn.execute("SET LOCAL xmlbinary = 'hex'")
        conn.execute(_query(MOVE_AWAY, schema, assignments=away), _params(customer))
        conn.execute("SET LOCAL xmlbinary = 'base64'")
        values = {c: saved[c] for c in _COLUMNS}
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in _COLUMNS
        )
        conn.execute(_query(PUT_BACK, schema, assignments=assignments), {**_params(customer), **values})
    return True


def sync_state(conn, schema: str, customer) -> dict | None:
    """The Contact's `_hc_lastop` / `_hc_err`."""
    return conn.execute(_query(SYNC_STATE, schema), _params(customer)).fetchone()
