"""The Heroku Connect data contract, as the local schema reproduces it (docs/connect-contract.md).

Every pattern in this app relies on these behaviours: what an app write leaves in the trigger
log, what a write by Connect leaves in `_hc_lastop`, which names and types the tables have. If
`standins/provision.py` drifted from Connect, code that passes locally would fail on Heroku;
these tests pin each behaviour down.

A write "as the app" is a plain statement (the session's xmlbinary is Postgres's default,
base64). A write "as Connect" runs with `SET LOCAL xmlbinary = 'hex'`, as Connect's own sessions do.
"""

import dataclasses

import psycopg
import pytest
from psycopg import sql

from core import connect, db
from standins.provision import provision

CONTACT = (
    "INSERT INTO salesforce.contact (lastname, firstname, email, external_id__c) VALUES (%s, %s, %s, %s) RETURNING id"
)
LOG = """
SELECT id, txid, state, action, table_name, record_id, sfid,
       hstore_to_json(old::hstore) AS old, hstore_to_json("values"::hstore) AS values
FROM {schema}._trigger_log ORDER BY id
"""


def log_rows(conn, schema="salesforce"):
    """The trigger log, oldest first, with `old` and `values` decoded from hstore."""
    return conn.execute(sql.SQL(LOG).format(schema=sql.Identifier(schema))).fetchall()


@pytest.fixture
def synced_contact(conn, as_connect):
    """The id of a Contact that came from Salesforce: SYNCED, with an sfid, no trigger-log row."""
    with as_connect(conn):
        return conn.execute(
            "INSERT INTO salesforce.contact (sfid, lastname, firstname, email, external_id__c, systemmodstamp,"
            " createddate, isdeleted) VALUES ('003000000000001AAA', 'Lovelace', 'Ada', 'ada@example.com',"
            " 'ext-003000000000001AAA', now(), now(), false) RETURNING id"
        ).fetchone()["id"]


@pytest.fixture
def app_contact(conn):
    """The id of a Contact the app inserted: PENDING, no sfid yet, one NEW trigger-log row."""
    return conn.execute(CONTACT, ("Hopper", "Grace", None, "ext-1")).fetchone()["id"]


def row(conn, table, record_id):
    """One row of a Connect table."""
    return conn.execute(
        sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier("salesforce", table)), (record_id,)
    ).fetchone()


def columns(conn, table, schema="salesforce") -> dict[str, str]:
    """Column → formatted type, as psql's \\d shows them."""
    rows = conn.execute(
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a "
        "WHERE a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema, table),
    )
    return {r["name"]: r["type"] for r in rows}


def indexes(conn, table, schema="salesforce") -> dict[str, str]:
    """Index name → definition."""
    rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                        (schema, table))
    return {r["indexname"]: r["indexdef"] for r in rows}


@pytest.fixture
def other_schema(database_url):
    """A second Connect schema (dropped afterwards): proves nothing depends on the name `salesforce`."""
    created = []

    def make(name, **kwargs):
        with db.connect(database_url) as c:
            provision(c, name, log=lambda *_: None, **kwargs)
        created.append(name)
        return name

    yield make
    with db.connect(database_url) as c:
        for name in created:
            c.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


# --- INSERT by the app ------------------------------------------------------------------------


def test_app_insert_logs_one_new_row_with_every_column(conn):
    with conn.transaction():
        record_id = conn.execute(CONTACT, ("Hopper", "Grace", "grace@example.com", "ext-1")).fetchone()["id"]
        txid = conn.execute("SELECT txid_current() AS t").fetchone()["t"]
    [entry] = log_rows(conn)
    assert (entry["state"], entry["action"], entry["table_name"]) == ("NEW", "INSERT", "contact")
    assert entry["record_id"] == record_id
    assert entry["txid"] == txid
    assert entry["old"] is None and entry["sfid"] is None
    assert set(entry["values"]) == set(columns(conn, "contact")) - {"_hc_lastop", "_hc_err"}
    assert entry["values"]["lastname"] == "Hopper" and entry["values"]["external_id__c"] == "ext-1"


def test_app_insert_marks_the_row_pending(conn):
    record_id = conn.execute(CONTACT, ("Hopper", "Grace", None, "ext-1")).fetchone()["id"]
    assert row(conn, "contact", record_id)["_hc_lastop"] == connect.PENDING


def test_app_insert_can_name_a_parent_by_its_external_id(conn):
    """A Case for a Contact that exists only in Postgres: the relationship column goes to Salesforce."""
    conn.execute(
        "INSERT INTO salesforce.case (subject, external_id__c, contact__external_id__c)"
        " VALUES ('Broken', 'c-1', 'ext-9')"
    )
    [entry] = log_rows(conn)
    assert entry["values"]["contact__external_id__c"] == "ext-9"
    assert entry["values"]["contactid"] is None


def test_rows_written_in_one_transaction_share_a_txid(conn):
    with conn.transaction():
        for n in range(3):
            conn.execute(CONTACT, (f"L{n}", "F", None, f"ext-{n}"))
    conn.execute(CONTACT, ("Later", "F", None, "ext-later"))
    txids = [e["txid"] for e in log_rows(conn)]
    assert len(set(txids[:3])) == 1 and txids[3] != txids[0]


# --- UPDATE by the app ------------------------------------------------------------------------


def test_app_update_logs_the_old_row_and_only_changed_columns(conn, synced_contact):
    before = row(conn, "contact", synced_contact)
    conn.execute("UPDATE salesforce.contact SET email = 'ada@analytical.example' WHERE id = %s", (synced_contact,))
    [entry] = log_rows(conn)
    assert (entry["state"], entry["action"], entry["record_id"]) == ("NEW", "UPDATE", synced_contact)
    assert entry["values"] == {"email": "ada@analytical.example"}
    assert entry["sfid"] == before["sfid"]
    assert set(entry["old"]) == set(before) - {"_hc_lastop", "_hc_err"}
    assert entry["old"]["email"] == "ada@example.com" and entry["old"]["sfid"] == before["sfid"]


def test_app_update_marks_the_row_pending(conn, synced_contact):
    conn.execute("UPDATE salesforce.contact SET phone = '555-0100' WHERE id = %s", (synced_contact,))
    assert row(conn, "contact", synced_contact)["_hc_lastop"] == connect.PENDING


def test_app_update_that_changes_nothing_is_ignored(conn, synced_contact):
    conn.execute("UPDATE salesforce.contact SET email = email WHERE id = %s", (synced_contact,))
    [entry] = log_rows(conn)
    assert entry["state"] == connect.LOG_IGNORE
    assert entry["values"] == {}


# --- DELETE by the app ------------------------------------------------------------------------


def test_app_delete_of_a_synced_row_is_sent_with_its_sfid(conn, synced_contact):
    before = row(conn, "contact", synced_contact)
    conn.execute("DELETE FROM salesforce.contact WHERE id = %s", (synced_contact,))
    [entry] = log_rows(conn)
    assert (entry["state"], entry["action"], entry["record_id"]) == ("NEW", "DELETE", synced_contact)
    assert entry["sfid"] == before["sfid"]
    assert entry["old"]["lastname"] == "Lovelace" and entry["values"] is None


def test_app_delete_of_a_row_that_never_reached_salesforce_is_ignored(conn, app_contact):
    conn.execute("DELETE FROM salesforce.contact WHERE id = %s", (app_contact,))
    insert, delete = log_rows(conn)
    assert delete["action"] == "DELETE" and delete["state"] == connect.LOG_IGNORE and delete["sfid"] is None


def test_truncate_is_not_captured(conn, synced_contact):
    conn.execute("TRUNCATE salesforce.contact")
    assert log_rows(conn) == []


# --- read-only mappings -----------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(m.table for m in connect.mappings().values() if not m.read_write))
def test_app_insert_on_a_read_only_mapping_is_logged_readonly(conn, table):
    conn.execute(sql.SQL("INSERT INTO {} (sfid) VALUES ('801000000000001AAA')").format(
        sql.Identifier("salesforce", table)))
    [entry] = log_rows(conn)
    assert entry["state"] == connect.LOG_READONLY and entry["table_name"] == table


def test_app_update_on_a_read_only_mapping_is_logged_readonly(conn, as_connect):
    with as_connect(conn):
        record_id = conn.execute("INSERT INTO salesforce.order (sfid, status) VALUES ('801000000000001AAA', 'Draft')"
                                 " RETURNING id").fetchone()["id"]
    conn.execute("UPDATE salesforce.order SET status = 'Activated' WHERE id = %s", (record_id,))
    [entry] = log_rows(conn)
    assert (entry["state"], entry["action"]) == ("READONLY", "UPDATE")


# --- writes by Connect (xmlbinary = hex) ------------------------------------------------------


def test_connect_writes_leave_no_trigger_log_rows(conn, synced_contact, as_connect):
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET phone = '555-0100' WHERE id = %s", (synced_contact,))
    with as_connect(conn):
        conn.execute("DELETE FROM salesforce.contact WHERE id = %s", (synced_contact,))
    assert log_rows(conn) == []


def test_connect_write_marks_the_row_synced(conn, app_contact, as_connect):
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET phone = '555-0100' WHERE id = %s", (app_contact,))
    assert row(conn, "contact", app_contact)["_hc_lastop"] == connect.SYNCED


@pytest.mark.parametrize("state", [connect.INSERTED, connect.UPDATED])
def test_connect_write_keeps_the_state_it_sets(conn, app_contact, as_connect, state):
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET sfid = '003000000000009AAA', _hc_lastop = %s WHERE id = %s",
                     (state, app_contact))
    assert row(conn, "contact", app_contact)["_hc_lastop"] == state


def test_a_later_read_from_salesforce_turns_an_inserted_row_synced(conn, app_contact, as_connect):
    """INSERTED describes Connect's write, not the row forever: the next poll's copy is SYNCED."""
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET sfid = '003000000000009AAA', _hc_lastop = 'INSERTED' "
                     "WHERE id = %s", (app_contact,))
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET phone = '555-0100' WHERE id = %s", (app_contact,))
    assert row(conn, "contact", app_contact)["_hc_lastop"] == connect.SYNCED


def test_connect_write_of_an_unknown_state_is_synced(conn, synced_contact, as_connect):
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET _hc_lastop = 'PENDING' WHERE id = %s", (synced_contact,))
    assert row(conn, "contact", synced_contact)["_hc_lastop"] == connect.SYNCED


def test_connect_write_keeps_failed_and_the_error(conn, app_contact, as_connect):
    error = '{"message": "REQUIRED_FIELD_MISSING: Account"}'
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET _hc_lastop = 'FAILED', _hc_err = %s WHERE id = %s",
                     (error, app_contact))
    failed = row(conn, "contact", app_contact)
    assert (failed["_hc_lastop"], failed["_hc_err"]) == (connect.FAILED, error)


@pytest.fixture
def failed_contact(conn, app_contact, as_connect):
    """The id of a Contact the app inserted and Salesforce refused: FAILED, with Connect's error."""
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET _hc_lastop = 'FAILED', _hc_err = '{}' WHERE id = %s",
                     (app_contact,))
    return app_contact


def test_app_write_after_a_failure_clears_the_error_and_retries(conn, failed_contact):
    conn.execute("UPDATE salesforce.contact SET email = 'grace@example.com' WHERE id = %s", (failed_contact,))
    retried = row(conn, "contact", failed_contact)
    assert (retried["_hc_lastop"], retried["_hc_err"]) == (connect.PENDING, None)


def test_connect_read_after_a_failure_clears_the_error(conn, failed_contact, as_connect):
    """A fresh copy from Salesforce (no state set by Connect) replaces the failed one."""
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET lastname = 'Hopper-Murray' WHERE id = %s", (failed_contact,))
    synced = row(conn, "contact", failed_contact)
    assert (synced["_hc_lastop"], synced["_hc_err"]) == (connect.SYNCED, None)


# --- NOTIFY -----------------------------------------------------------------------------------


def _listen(url, channel):
    listener = db.connect(url)
    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return listener


def test_trigger_log_insert_notifies_connect(conn, database_url):
    with _listen(database_url, "salesforce.hc_trigger_log") as listener:
        conn.execute(CONTACT, ("Hopper", "Grace", None, "ext-1"))
        [note] = list(listener.notifies(timeout=10, stop_after=1))
    assert (note.channel, note.payload) == ("salesforce.hc_trigger_log", "ping")


def test_the_schema_name_is_configurable_and_the_channel_follows_it(conn, database_url, other_schema):
    schema = other_schema("connect_alt")
    assert connect.notify_channel(schema) == "connect_alt.hc_trigger_log"
    with _listen(database_url, "connect_alt.hc_trigger_log") as listener:
        conn.execute("INSERT INTO connect_alt.contact (lastname, external_id__c) VALUES ('Hopper', 'ext-1')")
        [note] = list(listener.notifies(timeout=10, stop_after=1))
    assert note.channel == "connect_alt.hc_trigger_log"
    [entry] = log_rows(conn, "connect_alt")
    assert (entry["state"], entry["table_name"]) == ("NEW", "contact")
    assert log_rows(conn) == []


# --- provisioning: idempotent, migrates added fields -------------------------------------------

CATALOG = {
    "columns": """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         pg_get_expr(d.adbin, d.adrelid)
                  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE n.nspname = %(s)s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s",
    "triggers": """SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
                   JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = %(s)s AND NOT t.tgisinternal""",
    "functions": """SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
                    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s""",
    "hcmeta": "SELECT count(*) FROM salesforce._hcmeta",
}


def catalog(conn, schema="salesforce") -> dict:
    """Everything provisioning creates, as comparable sets."""
    result = {}
    for name, query in CATALOG.items():
        with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
            result[name] = set(cur.execute(query, {"s": schema}).fetchall())
    return result


def test_provisioning_twice_changes_nothing(conn):
    before = catalog(conn)
    assert provision(conn, "salesforce", log=lambda *_: None) == []
    assert catalog(conn) == before
    assert len(before["triggers"]) == 2 * len(connect.mappings()) + 1


def test_a_field_added_to_the_mapping_alters_the_table_and_keeps_the_rows(conn, other_schema):
    schema = other_schema("connect_grow")
    conn.execute("INSERT INTO connect_grow.contact (lastname, external_id__c) VALUES ('Hopper', 'ext-1')")
    objects = {name: dict(o) for name, o in connect.object_definitions().items()}
    title = {"name": "Title", "type": "string", "length": 128, "nillable": True, "externalId": False, "unique": False}
    objects["Contact"]["fields"] = [*objects["Contact"]["fields"], title]
    mappings = dict(connect.mappings())
    contact = mappings["Contact"]
    mappings["Contact"] = dataclasses.replace(contact, fields=(*contact.fields, "Title"),
                                              indexes={**contact.indexes, "Title": {"unique": False}})

    changes = provision(conn, schema, mappings=mappings, objects=objects, log=lambda *_: None)

    assert changes == ["added column connect_grow.contact.title", "created index hc_idx_contact_title"]
    assert columns(conn, "contact", schema)["title"] == "character varying(128)"
    assert "hc_idx_contact_title" in indexes(conn, "contact", schema)
    kept = conn.execute("SELECT lastname, title FROM connect_grow.contact").fetchall()
    assert kept == [{"lastname": "Hopper", "title": None}]
    conn.execute("UPDATE connect_grow.contact SET title = 'Rear Admiral'")
    assert log_rows(conn, schema)[-1]["values"] == {"title": "Rear Admiral"}


# --- names and types --------------------------------------------------------------------------


@pytest.mark.parametrize("mapping", connect.mappings().values(), ids=lambda m: m.object_name)
def test_index_names_are_connects(conn, mapping):
    found = indexes(conn, mapping.table)
    table = mapping.table
    assert "UNIQUE" in found[f"hcu_idx_{table}_sfid"]
    assert "UNIQUE" not in found[f"hc_idx_{table}_systemmodstamp"]
    for field_name, options in mapping.indexes.items():
        column = "sfid" if field_name == "Id" else field_name.lower()
        name = f"{'hcu' if options['unique'] else 'hc'}_idx_{table}_{column}"
        assert name in found
        assert ("UNIQUE" in found[name]) == options["unique"]
    assert found[f"{table}_pkey"].endswith("(id)")


def test_app_queries_find_their_mapping_indexes(conn):
    assert "hc_idx_order_accountid" in indexes(conn, "order")
    assert "hc_idx_orderitem_orderid" in indexes(conn, "orderitem")
    assert "hcu_idx_contact_external_id__c" in indexes(conn, "contact")


@pytest.mark.parametrize("mapping", connect.mappings().values(), ids=lambda m: m.object_name)
def test_every_mapped_table_has_the_system_columns(conn, mapping):
    found = columns(conn, mapping.table)
    assert {k: found[k] for k in connect.SYSTEM_COLUMNS} == {
        "id": "integer",
        "sfid": "character varying(18)",
        "systemmodstamp": "timestamp without time zone",
        "isdeleted": "boolean",
        "createddate": "timestamp without time zone",
        "_hc_lastop": "character varying(32)",
        "_hc_err": "text",
    }
    default = conn.execute(
        "SELECT column_default FROM information_schema.columns WHERE table_schema = 'salesforce' "
        "AND table_name = %s AND column_name = 'id'", (mapping.table,)
    ).fetchone()["column_default"]
    assert default == f"nextval('salesforce.{mapping.table}_id_seq'::regclass)"


@pytest.mark.parametrize("mapping", connect.mappings().values(), ids=lambda m: m.object_name)
def test_every_mapped_field_is_a_lowercase_column(conn, mapping):
    assert set(mapping.columns) <= set(columns(conn, mapping.table))


@pytest.mark.parametrize(
    ("table", "column", "expected"),
    [
        ("account", "name", "character varying(255)"),
        ("contact", "firstname", "character varying(40)"),
        ("contact", "lastname", "character varying(80)"),
        ("contact", "name", "character varying(121)"),
        ("contact", "email", "character varying(80)"),
        ("contact", "phone", "character varying(40)"),
        ("contact", "accountid", "character varying(18)"),
        ("order", "totalamount", "double precision"),
        ("order", "effectivedate", "date"),
        ("order", "activateddate", "timestamp without time zone"),
        ("orderitem", "quantity", "double precision"),
        ("product2", "isactive", "boolean"),
        ("product2", "description", "text"),
        ("case", "description", "text"),
        ("case", "order__c", "character varying(18)"),
        ("invoice__c", "amount__c", "double precision"),
        ("invoice__c", "due_date__c", "date"),
    ],
)
def test_column_types_follow_connect(conn, table, column, expected):
    assert columns(conn, table)[column] == expected


def test_case_has_the_contact_external_id_relationship_column(conn):
    assert columns(conn, "case")["contact__external_id__c"] == "character varying(36)"


def test_read_only_tables_get_no_relationship_columns(conn):
    assert not [c for c in columns(conn, "order") if c.endswith("__external_id__c")]


# --- system tables ----------------------------------------------------------------------------

TRIGGER_LOG_COLUMNS = {
    "id": "integer",
    "txid": "bigint",
    "created_at": "timestamp with time zone",
    "updated_at": "timestamp with time zone",
    "processed_at": "timestamp with time zone",
    "processed_tx": "bigint",
    "state": "character varying(8)",
    "action": "character varying(7)",
    "table_name": "character varying(128)",
    "record_id": "integer",
    "sfid": "character varying(18)",
    "old": "text",
    "values": "text",
    "sf_result": "integer",
    "sf_message": "text",
}


def test_hcmeta_exists_with_its_columns(conn):
    assert columns(conn, "_hcmeta") == {
        "id": "integer", "hcver": "integer", "org_id": "character varying(50)", "details": "text"
    }
    assert conn.execute("SELECT count(*) AS n FROM salesforce._hcmeta").fetchone()["n"] == 1


def test_trigger_log_has_the_documented_columns(conn):
    assert columns(conn, "_trigger_log") == TRIGGER_LOG_COLUMNS


def test_trigger_log_archive_has_the_same_columns_without_defaults(conn):
    assert columns(conn, "_trigger_log_archive") == TRIGGER_LOG_COLUMNS
    defaults = conn.execute(
        "SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'salesforce' "
        "AND table_name = '_trigger_log_archive' AND column_default IS NOT NULL"
    ).fetchone()["n"]
    assert defaults == 0


def test_trigger_log_indexes(conn):
    definitions = [d.split(" USING ")[1] for d in indexes(conn, "_trigger_log").values()]
    assert "btree (created_at)" in definitions
    assert "btree (state, id)" in definitions
    [partial] = [d for d in definitions if d.startswith("btree (state, table_name)")]
    assert "'NEW'" in partial and "'PENDING'" in partial


def test_trigger_log_archive_indexes(conn):
    definitions = [d.split(" USING ")[1] for d in indexes(conn, "_trigger_log_archive").values()]
    assert "btree (created_at)" in definitions
    assert "btree (record_id)" in definitions
    [partial] = [d for d in definitions if d.startswith("btree (state, table_name)")]
    assert "'FAILED'" in partial


def test_sf_event_log_exists(conn):
    assert "id" in columns(conn, "_sf_event_log")


def test_hstore_is_installed(conn):
    assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hstore'").fetchone()


# --- Functions Connect installs ----------------------------------------------------------------


def test_hc_capture_update_from_row_logs_the_named_columns_as_an_update(conn, synced_contact, as_connect):
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET phone = '+1 555 0100', _hc_lastop = 'FAILED', _hc_err = 'x' "
                     "WHERE id = %s", (synced_contact,))
    logged = conn.execute(
        "SELECT salesforce.hc_capture_update_from_row(hstore(c.*), 'contact', ARRAY['phone', 'email', '_hc_err']) "
        "AS id FROM salesforce.contact c WHERE c.id = %s", (synced_contact,)).fetchone()["id"]
    (entry,) = log_rows(conn)
    assert entry["id"] == logged and (entry["state"], entry["action"]) == (connect.LOG_NEW, "UPDATE")
    assert (entry["table_name"], entry["record_id"], entry["sfid"]) == ("contact", synced_contact, "003000000000001AAA")
    assert entry["old"] is None and entry["values"] == {"phone": "+1 555 0100", "email": "ada@example.com"}
    assert row(conn, "contact", synced_contact)["_hc_lastop"] == connect.FAILED  # the row itself is not written


def test_hc_capture_update_from_row_logs_the_whole_row_when_no_column_is_named(conn, synced_contact):
    conn.execute("SELECT salesforce.hc_capture_update_from_row(hstore(c.*), 'contact') FROM salesforce.contact c")
    (entry,) = log_rows(conn)
    assert entry["values"]["lastname"] == "Lovelace" and entry["values"]["id"] == str(synced_contact)
    assert "_hc_lastop" not in entry["values"] and "_hc_err" not in entry["values"]


def test_hc_capture_update_from_row_logs_nothing_for_a_row_without_an_id(conn):
    found = conn.execute("SELECT salesforce.hc_capture_update_from_row('lastname=>x'::hstore, 'contact') AS id")
    assert found.fetchone()["id"] is None and log_rows(conn) == []


def test_connects_functions_have_its_signatures(conn):
    found = conn.execute(
        "SELECT p::text AS function, pg_get_function_result(p) AS returns FROM unnest(ARRAY["
        "to_regprocedure('public.get_xmlbinary()'),"
        " to_regprocedure('salesforce.hc_capture_insert_from_row(hstore, character varying, text[])'),"
        " to_regprocedure('salesforce.hc_capture_update_from_row(hstore, character varying, text[])')]) AS p"
    ).fetchall()
    assert [(f["function"], f["returns"]) for f in found] == [
        ("get_xmlbinary()", "character varying"),
        ("salesforce.hc_capture_insert_from_row(hstore,character varying,text[])", "integer"),
        ("salesforce.hc_capture_update_from_row(hstore,character varying,text[])", "integer"),
    ]
    defaults = conn.execute(
        "SELECT pg_get_function_arguments(p) AS args FROM unnest(ARRAY["
        "'salesforce.hc_capture_insert_from_row(hstore, varchar, text[])'::regprocedure,"
        " 'salesforce.hc_capture_update_from_row(hstore, varchar, text[])'::regprocedure]) AS p"
    ).fetchall()
    assert [d["args"] for d in defaults] == [
        "source_row hstore, table_name character varying, excluded_cols text[] DEFAULT '{}'::text[]",
        "source_row hstore, table_name character varying, columns_to_include text[] DEFAULT '{}'::text[]",
    ]


def test_get_xmlbinary_is_in_public_only(conn):
    found = conn.execute("SELECT to_regprocedure('salesforce.get_xmlbinary()') AS f").fetchone()
    assert found["f"] is None


def test_get_xmlbinary_returns_the_sessions_setting(conn, as_connect):
    assert conn.execute("SELECT public.get_xmlbinary() AS x").fetchone()["x"] == "base64"
    with as_connect(conn):
        assert conn.execute("SELECT public.get_xmlbinary() AS x").fetchone()["x"] == connect.CONNECT_XMLBINARY


@pytest.mark.parametrize("mapping", connect.mappings().values(), ids=lambda m: m.object_name)
def test_log_triggers_ask_public_get_xmlbinary(conn, mapping):
    with conn.transaction():
        # pg_get_triggerdef leaves out the schemas on the search_path; pg_dump's empty one shows them all.
        conn.execute("SELECT set_config('search_path', '', true)")
        definition = conn.execute(
            "SELECT pg_get_triggerdef(t.oid) AS d FROM pg_trigger t WHERE t.tgname = %s AND t.tgrelid = %s::regclass",
            (f"hc_{mapping.table}_logtrigger", f'salesforce."{mapping.table}"'),
        ).fetchone()["d"]
    assert "AFTER INSERT OR DELETE OR UPDATE" in definition
    assert "WHEN (((public.get_xmlbinary())::text = 'base64'::text))" in definition


def test_a_session_without_public_on_its_search_path_cannot_write_a_mapped_table(conn):
    """As on Heroku: the status trigger calls get_xmlbinary() unqualified, and it lives in public."""
    conn.execute("SET search_path = salesforce")
    with pytest.raises(psycopg.errors.UndefinedFunction, match=r"get_xmlbinary\(\) does not exist"):
        conn.execute(CONTACT, ("Hopper", "Grace", None, "ext-1"))


def test_two_connect_schemas_share_public_get_xmlbinary(conn, other_schema, as_connect):
    schema = other_schema("connect_two")
    conn.execute(CONTACT, ("Hopper", "Grace", None, "ext-1"))
    conn.execute("INSERT INTO connect_two.contact (lastname, external_id__c) VALUES ('Lovelace', 'ext-2')")
    with as_connect(conn):
        conn.execute("INSERT INTO connect_two.contact (lastname, external_id__c) VALUES ('Babbage', 'ext-3')")
    assert [e["values"]["lastname"] for e in log_rows(conn)] == ["Hopper"]
    assert [e["values"]["lastname"] for e in log_rows(conn, schema)] == ["Lovelace"]
    lastops = conn.execute("SELECT lastname, _hc_lastop FROM connect_two.contact ORDER BY id").fetchall()
    assert [tuple(r.values()) for r in lastops] == [("Lovelace", connect.PENDING), ("Babbage", connect.SYNCED)]


# The layout provisioning built before get_xmlbinary() moved to public: the schema's own copy, which
# the log trigger depends on.
OLD_XMLBINARY = """
CREATE FUNCTION {schema}.get_xmlbinary() RETURNS varchar
    LANGUAGE sql STABLE AS $$ SELECT current_setting('xmlbinary') $$;
CREATE OR REPLACE TRIGGER hc_contact_logtrigger AFTER INSERT OR UPDATE OR DELETE ON {schema}.contact FOR EACH ROW
    WHEN ({schema}.get_xmlbinary()::text = 'base64'::text) EXECUTE FUNCTION {schema}.hc_contact_logger();
"""


def test_provisioning_moves_an_old_schema_onto_public_get_xmlbinary(conn, other_schema):
    schema = other_schema("connect_old")
    conn.execute(db.compose(OLD_XMLBINARY, schema=sql.Identifier(schema)))

    changes = provision(conn, schema, log=lambda *_: None)

    assert changes == ["dropped function connect_old.get_xmlbinary() (the triggers use public.get_xmlbinary())"]
    assert conn.execute("SELECT to_regprocedure('connect_old.get_xmlbinary()') AS f").fetchone()["f"] is None
    conn.execute("INSERT INTO connect_old.contact (lastname, external_id__c) VALUES ('Hopper', 'ext-1')")
    assert [e["action"] for e in log_rows(conn, schema)] == ["INSERT"]
    assert provision(conn, schema, log=lambda *_: None) == []


def test_provisioning_keeps_an_old_get_xmlbinary_a_table_no_longer_mapped_still_uses(conn, other_schema):
    schema = other_schema("connect_old")
    conn.execute(db.compose(OLD_XMLBINARY, schema=sql.Identifier(schema)))
    without_contact = {name: m for name, m in connect.mappings().items() if name != "Contact"}

    assert provision(conn, schema, mappings=without_contact, log=lambda *_: None) == []

    assert conn.execute("SELECT to_regprocedure('connect_old.get_xmlbinary()') AS f").fetchone()["f"] is not None
    conn.execute("INSERT INTO connect_old.contact (lastname, external_id__c) VALUES ('Hopper', 'ext-1')")
    assert [e["action"] for e in log_rows(conn, schema)] == ["INSERT"]


def test_hc_capture_insert_from_row_logs_the_row_as_an_insert(conn, synced_contact):
    with conn.transaction():
        logged = conn.execute(
            "SELECT salesforce.hc_capture_insert_from_row(hstore(c.*), 'contact',"
            " ARRAY['phone', 'email', 'id', 'sfid']) AS id FROM salesforce.contact c WHERE c.id = %s",
            (synced_contact,)).fetchone()["id"]
        txid = conn.execute("SELECT txid_current() AS t").fetchone()["t"]
    (entry,) = log_rows(conn)
    assert entry["id"] == logged and (entry["state"], entry["action"]) == (connect.LOG_NEW, "INSERT")
    assert (entry["table_name"], entry["record_id"], entry["txid"]) == ("contact", synced_contact, txid)
    assert entry["old"] is None and entry["sfid"] is None
    assert set(entry["values"]) == set(columns(conn, "contact")) - {"phone", "email", "_hc_lastop", "_hc_err"}
    assert (entry["values"]["id"], entry["values"]["sfid"]) == (str(synced_contact), "003000000000001AAA")
    assert row(conn, "contact", synced_contact)["_hc_lastop"] == connect.SYNCED  # the row itself is not written


def test_hc_capture_insert_from_row_logs_every_column_when_none_is_excluded(conn, synced_contact):
    conn.execute("SELECT salesforce.hc_capture_insert_from_row(hstore(c.*), 'contact') FROM salesforce.contact c")
    (entry,) = log_rows(conn)
    assert set(entry["values"]) == set(columns(conn, "contact")) - {"_hc_lastop", "_hc_err"}


def test_hc_capture_insert_from_row_logs_nothing_for_a_row_without_an_id(conn):
    found = conn.execute("SELECT salesforce.hc_capture_insert_from_row('lastname=>x'::hstore, 'contact') AS id")
    assert found.fetchone()["id"] is None and log_rows(conn) == []


@pytest.mark.parametrize("function", ["hc_capture_insert_from_row", "hc_capture_update_from_row"])
def test_hc_capture_functions_log_new_even_for_a_read_only_mapping(conn, as_connect, function):
    """Connect's functions do not look at the mapping: unlike the log trigger, they never write READONLY."""
    with as_connect(conn):
        conn.execute("INSERT INTO salesforce.account (sfid, name) VALUES ('001000000000001AAA', 'Acme')")
    conn.execute(sql.SQL("SELECT salesforce.{}(hstore(a.*), 'account') FROM salesforce.account a").format(
        sql.Identifier(function)))
    (entry,) = log_rows(conn)
    assert (entry["state"], entry["table_name"]) == (connect.LOG_NEW, "account")
