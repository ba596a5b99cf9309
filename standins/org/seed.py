"""Fill an empty local org from the local Connect schema: the org the demo data came from.

Demo data is written straight into Postgres as Connect would write it after its initial load, so
the org must hold the same records (same Ids, same values) for the two sides to start in sync.
Set-based: one INSERT … SELECT per mapping. Owned records belong to the integration user, as every
record the org creates does. The standard records every org has (its User, Organization, …) do not
make an org "not empty": they are there from its first start.
"""

from psycopg import sql

from core import connect, db
from core.db import compose
from standins.org import describe as schema
from standins.org import store
from standins.org.ids import USER_ID

ANY_MAPPED_RECORD = "SELECT 1 FROM {}.records WHERE object = ANY(%s) LIMIT 1"
_DATETIME = "to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+0000\"')"


def _value(field: dict, column: str) -> sql.Composable:
    col = sql.Identifier(column)
    if field["type"] == "datetime":
        return compose(_DATETIME, col=col)
    if field["type"] == "date":
        return sql.SQL("to_char({}, 'YYYY-MM-DD')").format(col)
    return col


TABLE_EXISTS = "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) AS t"
# One mapped table's synced rows as the org's records, in one statement.
COPY_MAPPING = """
INSERT INTO {org}.records (id, object, fields, created_date, system_modstamp)
SELECT sfid, {obj}, jsonb_strip_nulls(jsonb_build_object({pairs})),
       coalesce(createddate, now() AT TIME ZONE 'UTC'), coalesce(systemmodstamp, now() AT TIME ZONE 'UTC')
  FROM {table} WHERE sfid IS NOT NULL AND NOT coalesce(isdeleted, false)
    ON CONFLICT (id) DO NOTHING
"""


def from_connect_schema(org, connect_schema: str = "salesforce") -> int:
    """Copy every synced row of the Connect tables into an org that has no records yet; return the count."""
    copied = 0
    with db.connect(org.database_url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"local-org-seed:{org.schema}",))
        mapped = list(connect.mappings())
        if conn.execute(sql.SQL(ANY_MAPPED_RECORD).format(sql.Identifier(org.schema)), (mapped,)).fetchone():
            return 0
        for mapping in connect.mappings().values():
            found = conn.execute(TABLE_EXISTS, (connect_schema, mapping.table)).fetchone()["t"]
            if found is None:
                continue
            described = {f["name"]: f for f in schema.describe(mapping.object_name)["fields"]}
            pairs = []
            for name in mapping.fields:
                if name in store.SYSTEM_COLUMNS:
                    continue
                pairs += [sql.Literal(name), _value(described[name], connect.column_name(name))]
            if schema.owned(mapping.object_name):
                pairs += [sql.Literal("OwnerId"), sql.Literal(USER_ID)]
            statement = sql.SQL(COPY_MAPPING).format(
                org=sql.Identifier(org.schema), obj=sql.Literal(mapping.object_name),
                pairs=sql.SQL(", ").join(pairs), table=sql.Identifier(connect_schema, mapping.table))
            copied += conn.execute(statement).rowcount
    return copied
