"""Check a mapping file against the org before `heroku connect:import` (`python manage.py connect validate`).

`connect:import` accepts a mapping whose fields the org lacks or cannot write, and Connect then
fails later, table by table, in its dashboard. This reads the org's describe of each mapped object
(the real org, or the local one) and names every problem up front, one line each:
- every mapped object and field exists in the org;
- the column Connect will create for each field (its type map, core.connect.column_type) is the one
  the app is built against (sql/connect/objects.json), and the one a table that exists already has;
- an upsert field is an external id and unique;
- on a read-write mapping, the fields the app writes are createable / updateable by the integration
  user (describe reports the logged-in user's field access);
- each external-id relationship column (`contact__external_id__c`) points at a real external-id field;
- no foreign key from the app's schema into a Connect table (Connect drops and recreates its tables
  on a reload: a foreign key blocks it), when a database is configured;
- the rows the org holds for the mapped objects (`SELECT COUNT() FROM X`) against the plan's cap.
"""

from dataclasses import dataclass

from psycopg import sql
from simple_salesforce.exceptions import SalesforceError

from core import connect


@dataclass(frozen=True)
class Problem:
    """One thing that would break the mapping: which object and field, and why."""

    object_name: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.object_name}.{self.field}" if self.field else self.object_name
        return f"{where}: {self.message}"


# Foreign keys from tables of the app's schema to tables of the Connect schema.
FOREIGN_KEYS_INTO_CONNECT = """
SELECT c.conname AS name, src.relname AS source, dst.relname AS target
FROM pg_constraint c
JOIN pg_class src ON src.oid = c.conrelid
JOIN pg_namespace src_ns ON src_ns.oid = src.relnamespace
JOIN pg_class dst ON dst.oid = c.confrelid
JOIN pg_namespace dst_ns ON dst_ns.oid = dst.relnamespace
WHERE c.contype = 'f' AND src_ns.nspname = %(app_schema)s AND dst_ns.nspname = %(connect_schema)s
ORDER BY src.relname, c.conname
"""


# The columns a table has now, with their Postgres types (as format_type spells them).
TABLE_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(table)s AND a.attnum > 0 AND NOT a.attisdropped
"""


def postgres_type(column_type: str) -> str:
    """Connect's column type as Postgres reports it (`varchar(80)` → `character varying(80)`)."""
    if column_type.startswith("varchar("):
        return "character varying" + column_type.removeprefix("varchar")
    return {"timestamp": "timestamp without time zone"}.get(column_type, column_type)


def org_fields(sf, object_name: str) -> dict | None:
    """The org's describe of an object's fields by name; None when the org has no such object."""
    try:
        return {f["name"]: f for f in getattr(sf, object_name).describe()["fields"]}
    except SalesforceError as exc:
        if exc.status == 404:
            return None
        raise


def row_counts(sf, object_names) -> dict[str, int]:
    """How many records of each object the org holds: what Connect will sync."""
    return {name: sf.query(f"SELECT COUNT() FROM {name}")["totalSize"] for name in object_names}  # noqa: S608


def _field_problems(mapping, name, field, expected, mappings, sf_fields_of) -> list[Problem]:
    obj, out = mapping.object_name, []

    def problem(message):
        out.append(Problem(obj, name, message))

    try:
        column = connect.column_type(field)
    except ValueError:
        problem(f"Connect cannot map a {field['type']} field")
        column = None
    if expected and column:
        wanted = connect.column_type(expected)
        if column != wanted:
            problem(f"Connect will create the column {connect.column_name(name)} as {column}, the app expects "
                    f"{wanted} (the org's field is {field['type']}({field.get('length')}), sql/connect/objects.json "
                    f"says {expected['type']}({expected.get('length')}))")
    if name == mapping.upsert_field and not (field["externalId"] and field["unique"]):
        problem("the upsert field must be an external id and unique (Setup → Object Manager → the field → "
                "External ID, Unique)")
    if mapping.read_write and expected:
        for access in ("createable", "updateable"):
            if expected[access] and not field[access]:
                problem(f"not {access} by the integration user: grant it edit access (field-level security)")
    if mapping.read_write and field["type"] == "reference":
        for target in field["referenceTo"]:
            parent = mappings.get(target)
            if not (parent and parent.upsert_field):
                continue
            parent_fields = sf_fields_of(target) or {}
            ext = parent_fields.get(parent.upsert_field)
            if not field.get("relationshipName"):
                problem(f"has no relationship name: the column for {target}.{parent.upsert_field} cannot be made")
            elif ext is None or not ext["externalId"]:
                column = connect.relationship_column(field["relationshipName"], parent.upsert_field)
                problem(f"the column {column} names {target}.{parent.upsert_field}, which is not an external id "
                        "in the org")
    return out


def mapping_problems(sf, mappings: dict, objects: dict | None = None, described: dict | None = None) -> list[Problem]:
    """What the org's describe says is wrong with the mappings, one Problem per object or field.

    `described` caches the org's describes by object name (None for an object the org lacks).
    """
    objects = connect.object_definitions() if objects is None else objects
    described = {} if described is None else described

    def fields_of(name):
        if name not in described:
            described[name] = org_fields(sf, name)
        return described[name]

    out = []
    for mapping in mappings.values():
        fields = fields_of(mapping.object_name)
        if fields is None:
            out.append(Problem(mapping.object_name, None, "the org has no such object (run `python manage.py org "
                                                          "setup` for the app's custom object)"))
            continue
        expected_fields = {f["name"]: f for f in objects.get(mapping.object_name, {}).get("fields", [])}
        for name in mapping.fields:
            field = fields.get(name)
            if field is None:
                out.append(Problem(mapping.object_name, name, "the org has no such field (run `python manage.py "
                                                              "org setup`, or remove it from the mapping)"))
                continue
            out += _field_problems(mapping, name, field, expected_fields.get(name), mappings, fields_of)
        if mapping.upsert_field and mapping.upsert_field not in mapping.fields:
            out.append(Problem(mapping.object_name, mapping.upsert_field, "the upsert field is not mapped"))
    return out


def foreign_key_problems(conn, app_schema: str, connect_schema: str) -> list[Problem]:
    """A foreign key from the app's tables into a Connect table, one Problem each."""
    rows = conn.execute(sql.SQL(FOREIGN_KEYS_INTO_CONNECT),
                        {"app_schema": app_schema, "connect_schema": connect_schema}).fetchall()
    return [Problem(f"{app_schema}.{r['source']}", None,
                    f"foreign key {r['name']} points into the Connect table {connect_schema}.{r['target']}: Connect "
                    "drops and recreates its tables, so keep the reference as a plain column") for r in rows]


def table_problems(conn, connect_schema: str, mappings: dict, described: dict) -> list[Problem]:
    """A mapped table that exists already, with a column whose type is not the one Connect makes of the org's field."""
    out = []
    for mapping in mappings.values():
        fields = described.get(mapping.object_name) or {}
        have = {r["name"]: r["type"] for r in conn.execute(sql.SQL(TABLE_COLUMNS),
                                                           {"schema": connect_schema, "table": mapping.table})}
        for name in mapping.fields:
            column = connect.column_name(name)
            if name in connect.SYSTEM_FIELDS or name not in fields or column not in have:
                continue
            try:
                wanted = postgres_type(connect.column_type(fields[name]))
            except ValueError:
                continue  # named by mapping_problems
            if have[column] != wanted:
                out.append(Problem(mapping.object_name, name, f"the table {connect_schema}.{mapping.table} has "
                                   f"{column} as {have[column]}; Connect makes {wanted} of the org's field"))
    return out


def row_count_problem(counts: dict[str, int], cap: int | None) -> Problem | None:
    """A Problem when the org holds more rows for the mappings than the plan syncs (cap None: no cap known)."""
    total = sum(counts.values())
    if cap is None or total <= cap:
        return None
    biggest = max(counts, key=counts.get)
    return Problem(biggest, None, f"the mapped objects hold {total:,} records together, over the plan's cap of "
                                  f"{cap:,} synced rows ({biggest} alone: {counts[biggest]:,})")


def validate(sf, mappings: dict, *, conn=None, app_schema="app", connect_schema="salesforce",
             cap: int | None = connect.DEMO_PLAN_ROWS) -> tuple[list[Problem], dict[str, int]]:
    """Every problem (the mappings against the org, the database when `conn` is given, the row cap), and the
    org's record count of each mapped object it has."""
    described = {}
    problems = mapping_problems(sf, mappings, described=described)
    if conn is not None:
        problems += table_problems(conn, connect_schema, mappings, described)
        problems += foreign_key_problems(conn, app_schema, connect_schema)
    counts = row_counts(sf, [name for name in mappings if described.get(name) is not None])
    over = row_count_problem(counts, cap)
    return problems + ([over] if over else []), counts
