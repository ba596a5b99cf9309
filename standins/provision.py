"""Build the Connect schema locally, exactly as Heroku Connect builds it when mappings are applied.

On Heroku, Connect creates and alters these tables itself; the app never does. Locally nothing
would, so this module plays that part: from the object definitions (what Salesforce's describe
says) and the mapping file it creates the schema, the `hstore` extension, the system tables
(`_hcmeta`, `_trigger_log`, `_trigger_log_archive`, `_sf_event_log`), the NOTIFY trigger, Connect's
functions (`public.get_xmlbinary`, `hc_capture_insert_from_row`, `hc_capture_update_from_row`), and
for each mapping the table with Connect's column types, system columns, index names and triggers.

Applying it again changes nothing; a field added to the mapping is added to the table in place.
"""

import os
import sys

from psycopg import sql
from psycopg.rows import tuple_row

from core import config, connect, db
from core.connect import column_type
from core.db import compose

_HCVER = 3


def table_columns(mapping: connect.Mapping, mappings: dict, objects: dict) -> dict[str, str]:
    """Column name → type for a mapped table, system columns included, in Connect's order."""
    described = {f["name"]: f for f in objects[mapping.object_name]["fields"]}
    columns = {}
    for name in mapping.fields:
        if name in connect.SYSTEM_FIELDS:
            continue
        if name not in described:
            raise ValueError(f"{mapping.object_name}.{name} is mapped but not in the object definitions")
        columns[connect.column_name(name)] = column_type(described[name])
    columns.update(external_id_relationship_columns(mapping, mappings, objects))
    columns.update(
        {
            "isdeleted": "boolean",
            "systemmodstamp": "timestamp",
            "createddate": "timestamp",
            "sfid": "varchar(18)",
            "id": "serial",
            "_hc_lastop": "varchar(32)",
            "_hc_err": "text",
        }
    )
    return columns


def external_id_relationship_columns(mapping, mappings, objects) -> dict[str, str]:
    """On a read-write mapping, a column per lookup whose parent is mapped with an upsert field.

    Setting it (and leaving the lookup NULL) lets a child point at a parent that exists only in
    Postgres so far: Salesforce resolves the parent by its external id.
    """
    if not mapping.read_write:
        return {}
    described = {f["name"]: f for f in objects[mapping.object_name]["fields"]}
    result = {}
    for name in mapping.fields:
        f = described.get(name, {})
        if f.get("type") != "reference":
            continue
        for target in f["referenceTo"]:
            parent = mappings.get(target)
            if parent and parent.upsert_field:
                ext = next(x for x in objects[target]["fields"] if x["name"] == parent.upsert_field)
                result[connect.relationship_column(f["relationshipName"], parent.upsert_field)] = column_type(ext)
    return result


def index_name(table: str, column: str, unique: bool) -> str:
    """Connect's index names: hcu_idx_<table>_<col> (unique) or hc_idx_<table>_<col>."""
    return f"{'hcu' if unique else 'hc'}_idx_{table}_{column}"


def table_indexes(mapping: connect.Mapping) -> dict[str, bool]:
    """Column → unique for a mapped table's indexes: Connect always indexes sfid and systemmodstamp."""
    indexes = {"sfid": True, "systemmodstamp": False}
    for field_name, options in mapping.indexes.items():
        column = "sfid" if field_name == "Id" else connect.column_name(field_name)
        indexes[column] = indexes.get(column, False) or bool(options.get("unique"))
    return indexes


SYSTEM_TABLES = """
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}._hcmeta (
    id serial PRIMARY KEY,
    hcver integer,
    org_id varchar(50),
    details text
);

CREATE TABLE IF NOT EXISTS {schema}._trigger_log (
    id serial PRIMARY KEY,
    txid bigint,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    processed_at timestamptz,
    processed_tx bigint,
    state varchar(8),
    action varchar(7),
    table_name varchar(128),
    record_id integer,
    sfid varchar(18),
    old text,
    "values" text,
    sf_result integer,
    sf_message text
);
CREATE INDEX IF NOT EXISTS _trigger_log_idx_created_at ON {schema}._trigger_log (created_at);
CREATE INDEX IF NOT EXISTS _trigger_log_idx_state_id ON {schema}._trigger_log (state, id);
CREATE INDEX IF NOT EXISTS _trigger_log_idx_state_table_name ON {schema}._trigger_log (state, table_name)
    WHERE state IN ('NEW', 'PENDING');

-- Processed rows move here: the same columns, without defaults (LIKE copies neither defaults nor indexes).
CREATE TABLE IF NOT EXISTS {schema}._trigger_log_archive (LIKE {schema}._trigger_log, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS idx__trigger_log_archive_created_at ON {schema}._trigger_log_archive (created_at);
CREATE INDEX IF NOT EXISTS idx__trigger_log_archive_record_id ON {schema}._trigger_log_archive (record_id);
CREATE INDEX IF NOT EXISTS idx__trigger_log_archive_state_table_name
    ON {schema}._trigger_log_archive (state, table_name) WHERE state = 'FAILED';

CREATE TABLE IF NOT EXISTS {schema}._sf_event_log (
    id serial PRIMARY KEY,
    table_name varchar(128),
    action varchar(7),
    synced_at timestamptz DEFAULT now(),
    sf_timestamp timestamptz,
    sfid varchar(20),
    record text,
    processed boolean
);

-- Wakes the writer as soon as there is something to send.
CREATE OR REPLACE FUNCTION {schema}.tlog_notify_trigger() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify({channel}, 'ping');
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER tlog_insert_trigger AFTER INSERT ON {schema}._trigger_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.tlog_notify_trigger();

-- Connect's two functions that log a row by hand, without writing it: one NEW trigger-log row stamped
-- like the log trigger's, never _hc_lastop or _hc_err; NULL, and nothing logged, for a row without an
-- id. Peer libraries call them to retry a write (django-heroku-connect under Ordered Writes); the app
-- calls the UPDATE one where the archived entry of a refused update is gone. (Connect's are plpgsql;
-- one SQL statement each does the same.)
-- INSERT: the whole row but the excluded columns (id and sfid are never excluded).
CREATE OR REPLACE FUNCTION {schema}.hc_capture_insert_from_row(
    source_row hstore, table_name varchar, excluded_cols text[] DEFAULT '{}') RETURNS integer
    LANGUAGE sql AS $$
INSERT INTO {schema}._trigger_log (txid, created_at, updated_at, state, action, table_name, record_id, "values")
SELECT txid_current(), clock_timestamp(), clock_timestamp(), 'NEW', 'INSERT', hc_capture_insert_from_row.table_name,
       (source_row -> 'id')::integer,
       source_row - array_remove(array_remove(excluded_cols, 'id'), 'sfid') - ARRAY['_hc_lastop', '_hc_err']
WHERE (source_row -> 'id') IS NOT NULL
RETURNING id
$$;
-- UPDATE: the row's sfid, only the columns named (the whole row when none are), old NULL.
CREATE OR REPLACE FUNCTION {schema}.hc_capture_update_from_row(
    source_row hstore, table_name varchar, columns_to_include text[] DEFAULT '{}') RETURNS integer
    LANGUAGE sql AS $$
INSERT INTO {schema}._trigger_log (txid, created_at, updated_at, state, action, table_name, record_id, sfid, old,
                                   "values")
SELECT txid_current(), clock_timestamp(), clock_timestamp(), 'NEW', 'UPDATE', hc_capture_update_from_row.table_name,
       (source_row -> 'id')::integer, source_row -> 'sfid', NULL,
       CASE WHEN cardinality(columns_to_include) > 0 THEN slice(source_row, columns_to_include)
            ELSE source_row END - ARRAY['_hc_lastop', '_hc_err']
WHERE (source_row -> 'id') IS NOT NULL
RETURNING id
$$;
"""

# Which writer is this? Connect sets xmlbinary = 'hex' on its sessions; everyone else has 'base64'.
# Connect installs this function in public, not in its schema, so every Connect schema in a database
# shares it. The log triggers name it public.get_xmlbinary(); the status triggers call it unqualified,
# as Connect's do, so a session writing a mapped table needs public on its search_path (the default).
# Connect's body reads the setting from the pg_settings view; current_setting() returns the same value
# without building the whole view, which every row written would otherwise pay for twice (the status
# trigger's body and the log trigger's WHEN): a 100,000-order load took 40 times as long that way.
XMLBINARY_FUNCTION = """
CREATE OR REPLACE FUNCTION public.get_xmlbinary() RETURNS varchar
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN current_setting('xmlbinary');
END;
$$;
"""

# Schemas provisioned before get_xmlbinary() moved to public have their own copy. Once every log trigger
# has been re-created on public's, nothing depends on that copy any more: it can go.
OLD_XMLBINARY = """
SELECT p.oid::regprocedure::text AS function FROM pg_proc p
 WHERE p.oid = to_regprocedure(format('%%I.get_xmlbinary()', %(schema)s::text))
   AND p.pronamespace <> 'public'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid)
"""

# BEFORE INSERT/UPDATE: who wrote the row decides its _hc_lastop.
STATUS_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF get_xmlbinary() = 'base64' THEN
        -- the app wrote it: Connect has to send it
        NEW._hc_lastop = 'PENDING';
        NEW._hc_err = NULL;
        RETURN NEW;
    END IF;
    -- Connect wrote it: keep a state Connect set on purpose (INSERTED, UPDATED, FAILED) ...
    IF NEW._hc_lastop IN ('INSERTED', 'UPDATED', 'FAILED')
       AND (TG_OP = 'INSERT' OR NEW._hc_lastop IS DISTINCT FROM OLD._hc_lastop) THEN
        RETURN NEW;
    END IF;
    -- ... otherwise the row came from Salesforce
    NEW._hc_lastop = 'SYNCED';
    NEW._hc_err = NULL;
    RETURN NEW;
END;
$$;
"""

# AFTER INSERT/UPDATE/DELETE, only for the app's writes: one trigger-log row per row changed.
LOG_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    trigger_row {schema}._trigger_log;
    excluded_cols text[] = ARRAY['_hc_lastop', '_hc_err']::text[];
BEGIN
    trigger_row = ROW();
    trigger_row.id = nextval({sequence});
    trigger_row.action = TG_OP::text;
    trigger_row.table_name = TG_TABLE_NAME::text;
    trigger_row.txid = txid_current();
    trigger_row.created_at = clock_timestamp();
    trigger_row.updated_at = trigger_row.created_at;
    trigger_row.state = {state};
    IF TG_OP = 'DELETE' THEN
        trigger_row.record_id = OLD.id;
        trigger_row.old = hstore(OLD.*) - excluded_cols;
        IF OLD.sfid IS NOT NULL THEN
            trigger_row.sfid = OLD.sfid;
        ELSE
            trigger_row.state = 'IGNORE';  -- never reached Salesforce: nothing to delete there
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        trigger_row.record_id = NEW.id;
        trigger_row.values = hstore(NEW.*) - excluded_cols;
    ELSE
        trigger_row.record_id = NEW.id;
        trigger_row.old = hstore(OLD.*) - excluded_cols;
        trigger_row.values = (hstore(NEW.*) - hstore(trigger_row.old)) - excluded_cols;
        trigger_row.sfid = OLD.sfid;
        IF trigger_row.values = '' THEN
            trigger_row.state = 'IGNORE';  -- nothing Connect would send changed
        END IF;
    END IF;
    INSERT INTO {schema}._trigger_log VALUES (trigger_row.*);
    RETURN NULL;
END;
$$;
"""


def existing_columns(conn, schema: str, table: str) -> dict[str, str]:
    """Columns a table has now (empty when it does not exist)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    )
    return {r["column_name"] if isinstance(r, dict) else r[0]: "" for r in rows}


def provision(conn, schema: str = "salesforce", mappings=None, objects=None, org_id="00D000000000001EAA", log=print):
    """Create or bring up to date the Connect schema for `mappings`; return the changes made."""
    mappings = connect.mappings() if mappings is None else mappings
    objects = connect.object_definitions() if objects is None else objects
    changes = []
    s = sql.Identifier(schema)
    with conn.transaction():
        # Two processes provisioning at once must not interleave DDL, even for two schemas: they share
        # the hstore extension and public.get_xmlbinary().
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('provision'))")
        conn.execute(XMLBINARY_FUNCTION)
        conn.execute(compose(SYSTEM_TABLES, schema=s, channel=sql.Literal(connect.notify_channel(schema))))
        conn.execute(
            compose(
                "INSERT INTO {schema}._hcmeta (hcver, org_id, details) SELECT {hcver}, {org}, 'local stand-in' "
                "WHERE NOT EXISTS (SELECT 1 FROM {schema}._hcmeta)",
                schema=s,
                hcver=sql.Literal(_HCVER),
                org=sql.Literal(org_id),
            )
        )
        for mapping in mappings.values():
            changes += _provision_table(conn, schema, mapping, mappings, objects)
        changes += _drop_old_xmlbinary(conn, schema)
    for change in changes:
        log(change)
    return changes


def _drop_old_xmlbinary(conn, schema) -> list[str]:
    """Drop the schema's own get_xmlbinary() once no trigger uses it (public's serves every schema)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        old = cur.execute(OLD_XMLBINARY, {"schema": schema}).fetchone()
    if old is None:
        return []
    conn.execute(sql.SQL("DROP FUNCTION {}.get_xmlbinary()").format(sql.Identifier(schema)))
    return [f"dropped function {old[0]} (the triggers use public.get_xmlbinary())"]


def _provision_table(conn, schema, mapping, mappings, objects) -> list[str]:
    table = mapping.table
    s, t = sql.Identifier(schema), sql.Identifier(schema, table)
    wanted = table_columns(mapping, mappings, objects)
    have = existing_columns(conn, schema, table)
    changes = []
    if not have:
        body = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kind)) for c, kind in wanted.items()
        )
        conn.execute(sql.SQL("CREATE TABLE {} ({}, CONSTRAINT {} PRIMARY KEY (id))").format(
            t, body, sql.Identifier(f"{table}_pkey")))
        changes.append(f"created table {schema}.{table}")
    else:
        for column, kind in wanted.items():
            if column not in have:
                # A field added to the mapping: Connect alters the table in place and keeps the rows.
                add = sql.SQL("ALTER TABLE {} ADD COLUMN {} {}")
                conn.execute(add.format(t, sql.Identifier(column), sql.SQL(kind)))
                changes.append(f"added column {schema}.{table}.{column}")
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s", (schema, table))
        have_indexes = {name for (name,) in cur}
    for column, unique in table_indexes(mapping).items():
        name = index_name(table, column, unique)
        if name not in have_indexes:
            conn.execute(sql.SQL("CREATE {} INDEX {} ON {} ({})").format(
                sql.SQL("UNIQUE" if unique else ""), sql.Identifier(name), t, sql.Identifier(column)))
            changes.append(f"created index {name}")
    status_fn, log_fn = f"hc_{table}_status", f"hc_{table}_logger"
    conn.execute(compose(STATUS_FUNCTION, schema=s, function=sql.Identifier(status_fn)))
    conn.execute(
        compose(
            LOG_FUNCTION,
            schema=s,
            function=sql.Identifier(log_fn),
            sequence=sql.Literal(f"{schema}._trigger_log_id_seq"),
            state=sql.Literal(connect.LOG_NEW if mapping.read_write else connect.LOG_READONLY),
        )
    )
    conn.execute(sql.SQL(
        "CREATE OR REPLACE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}.{}()"
    ).format(sql.Identifier(f"hc_{table}_status_trigger"), t, s, sql.Identifier(status_fn)))
    conn.execute(sql.SQL(
        "CREATE OR REPLACE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW "
        "WHEN (public.get_xmlbinary()::text = 'base64'::text) EXECUTE FUNCTION {}.{}()"
    ).format(sql.Identifier(f"hc_{table}_logtrigger"), t, s, sql.Identifier(log_fn)))
    return changes


def main() -> int:
    """`python -m standins.provision`: build the schema named by CONNECT_SCHEMA in DATABASE_URL."""
    # Provisioning needs no Redis, but config.load() checks every variable: let REDIS_URL be absent here.
    env = {"REDIS_URL": "redis://localhost", **os.environ}
    try:
        cfg = config.load(env)
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    with db.connect(cfg.database_url) as conn:
        changes = provision(conn, cfg.connect_schema)
    print(f"{len(changes)} change(s); schema {cfg.connect_schema} matches the mapping file.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
