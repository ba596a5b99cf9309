"""The terms of SOQL in SQL: objects and field paths (with the parents they join), typed columns, literals, conditions.

A field path (`Account.Owner.Name`) becomes one LEFT JOIN of the records table per relationship, by
the reference field whose describe `relationshipName` the path names. A field's value is cast to its
describe type for comparisons and ordering; text compares case-insensitively as SOQL does; datetimes
compare as instants, and the system datetime columns, which hold UTC, are compared bare, so their
index serves the SystemModstamp poll. standins/org/compiler.py and standins/org/aggregates.py build
whole statements from these.
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime

from psycopg import sql

from standins.org import date_literals, soql
from standins.org.api.common import TIME_ZONE
from standins.org.describe import canonical_object, describe, objects
from standins.org.describe import field_of as describe_field
from standins.org.errors import SalesforceError
from standins.org.ids import full_id, looks_like_id
from standins.org.store import SYSTEM_COLUMNS

_CASTS = {"date": "date", "datetime": "timestamptz", "double": "float8", "currency": "float8", "percent": "float8",
          "int": "float8", "boolean": "boolean"}
TEXTUAL = {"string", "textarea", "picklist", "email", "phone", "url", "multipicklist", "combobox"}
NUMERIC = {"double", "currency", "percent", "int"}
MAX_RELATIONSHIP_DEPTH = 5
LONG_TEXT = 255  # a textarea longer than this is a long text area

RECORDS_FROM = "FROM {records} AS {root}{joins} WHERE {where}"
PARENT_JOIN = " LEFT JOIN {records} AS {alias} ON {alias}.id = {fk}"
ORDER_TEXT = 'upper({}) COLLATE "C"'  # English locales sort text by the UTF-8 values of its upper case
MULTIPICKLIST_HAS = "(string_to_array({}, ';') @> {})"
BAD_RELATIONSHIP = ("Didn't understand relationship '{}' in field path. If you are attempting to use a custom "
                    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                    "your WSDL or the describe call for the appropriate names.")
def canonical_object_for_query(name):
    """The object a FROM clause names; an unknown one is INVALID_TYPE, as Salesforce answers it."""
    try:
        return canonical_object(name)
    except SalesforceError:
        raise soql.SoqlError(f"sObject type '{name}' is not supported.", "INVALID_TYPE") from None


def field_of(obj, name) -> dict:
    """A field's describe entry; an unknown one is INVALID_FIELD."""
    try:
        return describe_field(obj, name)
    except SalesforceError as exc:
        raise soql.SoqlError(exc.message, exc.code) from None


def relationship_field(obj, name) -> dict | None:
    """The reference field whose relationshipName is `name` (Account → AccountId), whatever its case."""
    for f in describe(obj)["fields"]:
        if f["type"] == "reference" and (f["relationshipName"] or "").lower() == name.lower():
            return f
    return None


@dataclass
class Column:
    """A value in SQL: its typed expression (for comparing, ordering, grouping) and its describe type."""
    expr: sql.Composable
    kind: str
    name: str
    naive_utc: bool = False  # a timestamp column holding UTC: compared with naive UTC literals
    system: bool = False  # a system column (Id, CreatedDate, …): never null, indexed as it is


@dataclass
class Join:
    alias: str
    obj: str
    fk: dict  # the reference field the parent is joined by


@dataclass
class Resolved:
    """A field path resolved: the row alias that holds the field, the field, and the relationships crossed."""
    alias: str
    field: dict
    relationships: list  # [(relationshipName, Join)]


class Scope:
    """The records one SELECT reads: its object, under an alias, and the parents its field paths join."""

    def __init__(self, schema, obj, aliases=None, qualifier=None):
        self.schema, self.obj = schema, obj
        self.aliases = aliases or itertools.count()
        self.root = f"r{next(self.aliases)}"
        self.qualifiers = {obj.lower()} | ({qualifier.lower()} if qualifier else set())
        self.joins: dict[tuple, Join] = {}
        self.labels = itertools.count()

    def label(self) -> str:
        """A fresh output column name."""
        return f"v{next(self.labels)}"

    def records(self) -> sql.Identifier:
        """The org's records table."""
        return sql.Identifier(self.schema, "records")

    def resolve(self, path: str) -> Resolved:
        """Resolve `Account.Owner.Name`: join each parent once, return where the field lives."""
        parts = path.split(".")
        if len(parts) > 1 and parts[0].lower() in self.qualifiers and not relationship_field(self.obj, parts[0]):
            parts = parts[1:]  # SELECT Contact.Name FROM Contact: the object's own name (or alias) qualifies
        if len(parts) - 1 > MAX_RELATIONSHIP_DEPTH:
            raise soql.SoqlError(f"{path}: a field path crosses at most {MAX_RELATIONSHIP_DEPTH} relationships")
        alias, obj, key, crossed = self.root, self.obj, (), []
        for rel in parts[:-1]:
            fk = relationship_field(obj, rel)
            targets = [t for t in (fk or {}).get("referenceTo", []) if t in objects()]
            if fk is None or not targets:
                raise soql.SoqlError(BAD_RELATIONSHIP.format(rel), "INVALID_FIELD")
            if len(targets) > 1:
                raise soql.SoqlError(f"{rel} is polymorphic ({', '.join(targets)}): the local org does not query "
                                     "through polymorphic relationships (TYPEOF)")
            key += (fk["name"],)
            if key not in self.joins:
                self.joins[key] = Join(f"r{next(self.aliases)}", targets[0], fk)
            join = self.joins[key]
            crossed.append((fk["relationshipName"], join))
            alias, obj = join.alias, join.obj
        return Resolved(alias, field_of(obj, parts[-1]), crossed)

    def column(self, path: str) -> Column:
        """A field path as a typed SQL expression."""
        r = self.resolve(path)
        return typed_column(r.alias, r.field)

    def source(self, where: list) -> sql.Composed:
        """FROM … LEFT JOIN … WHERE …, with every parent resolved so far."""
        joins = sql.SQL("").join(
            sql.SQL(PARENT_JOIN).format(records=self.records(), alias=sql.Identifier(j.alias),
                                        fk=typed_column(self.parent_alias(key), j.fk).expr)
            for key, j in self.joins.items())
        return sql.SQL(RECORDS_FROM).format(records=self.records(), root=sql.Identifier(self.root), joins=joins,
                                            where=sql.SQL(" AND ").join(where))

    def parent_alias(self, key: tuple) -> str:
        """The alias of the row a join hangs off: the root, or the join one relationship shorter."""
        return self.joins[key[:-1]].alias if len(key) > 1 else self.root

    def base_conditions(self, include_deleted: bool) -> list:
        """The object's rows; live ones unless queryAll."""
        root = sql.Identifier(self.root)
        where = [sql.SQL("{}.object = {}").format(root, sql.Literal(self.obj))]
        if not include_deleted:
            where.append(sql.SQL("NOT {}.is_deleted").format(root))
        return where


def typed_column(alias: str, f: dict) -> Column:
    """A field of the row under `alias`, cast to its describe type."""
    if f["name"] in SYSTEM_COLUMNS:
        return Column(sql.Identifier(alias, SYSTEM_COLUMNS[f["name"]]), f["type"], f["name"], f["type"] == "datetime",
                      system=True)
    expr = sql.SQL("({}.fields->>{})").format(sql.Identifier(alias), sql.Literal(f["name"]))
    cast = _CASTS.get(f["type"])
    return Column(sql.SQL("{}::{}").format(expr, sql.SQL(cast)) if cast else expr, f["type"], f["name"])


def value_expr(alias: str, f: dict) -> sql.Composable:
    """A field of the row under `alias` as the REST API writes it: the system column, or the JSON value."""
    if f["name"] in SYSTEM_COLUMNS:
        return sql.Identifier(alias, SYSTEM_COLUMNS[f["name"]])
    return sql.SQL("{}.fields->{}").format(sql.Identifier(alias), sql.Literal(f["name"]))


# ---- conditions ---------------------------------------------------------------------------------

def literal(col: Column, value, op="="):
    """A SOQL literal checked against the column's type, in the form SQL compares it with."""
    kind = col.kind
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None) if col.naive_utc else value
        if isinstance(value, date):
            raise soql.SoqlError(f"value of filter criterion for field '{col.name}' must be of type dateTime and "
                                 "should not be enclosed in quotes", "INVALID_FIELD")
    elif kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
    elif kind in NUMERIC:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind in ("id", "reference"):
        if isinstance(value, str):
            if op in ("=", "!=", "in", "notin") and not looks_like_id(value):
                raise soql.SoqlError(f"invalid ID field: {value}", "INVALID_QUERY_FILTER_OPERATOR")
            return full_id(value) if looks_like_id(value) else value
    elif isinstance(value, str):
        return value
    quoted = "and should be enclosed in quotes" if kind in TEXTUAL | {"id", "reference"} else \
        "and should not be enclosed in quotes"
    raise soql.SoqlError(f"value of filter criterion for field '{col.name}' must be of type {kind} {quoted}",
                         "INVALID_FIELD")


def condition(node, term, semi_join=None) -> sql.Composable:
    """WHERE / HAVING as SQL; `term` turns a field path or a Call into a Column, `semi_join` compiles IN (SELECT …)."""
    if isinstance(node, soql.BoolOp):
        if node.op == "not":
            return sql.SQL("NOT ({})").format(condition(node.parts[0], term, no_semi_join("the 'NOT' operator")))
        inner = semi_join if node.op == "and" else no_semi_join("the 'OR' operator")
        joiner = sql.SQL(" AND " if node.op == "and" else " OR ")
        return sql.SQL("({})").format(joiner.join(condition(p, term, inner) for p in node.parts))
    col = term(node.field)
    if isinstance(node.value, soql.Query):
        if semi_join is None:
            raise soql.SoqlError("semi-join sub-selects are only allowed in WHERE")
        return semi_join(col, node)
    if isinstance(node.value, soql.DateLiteral):
        return _date_literal_condition(col, node.op, node.value)
    if node.op in ("includes", "excludes"):
        return _multipicklist(col, node)
    textual = col.kind in TEXTUAL
    expr = sql.SQL("lower({})").format(col.expr) if textual else col.expr
    if node.op in ("in", "notin"):
        if any(isinstance(v, soql.DateLiteral) for v in node.value):
            raise soql.SoqlError("date literals in IN (…) are not supported by the local org")
        values = [literal(col, v, node.op) for v in node.value]
        if textual:
            values = [v.lower() if v is not None else v for v in values]
        neg = sql.SQL("NOT " if node.op == "notin" else "")
        return sql.SQL("{}({} = ANY({}))").format(neg, expr, sql.Literal(values))
    if node.op == "like":
        if not textual:
            raise soql.SoqlError(f"invalid operator on {col.kind} field: LIKE takes a text field",
                                 "INVALID_QUERY_FILTER_OPERATOR")
        return sql.SQL("({} ILIKE {})").format(col.expr, sql.Literal(node.value))
    value = literal(col, node.value, node.op)
    if value is None:
        if node.op not in ("=", "!="):
            raise soql.SoqlError("null can only be compared with = or !=")
        return sql.SQL("({} IS {}NULL)").format(col.expr, sql.SQL("NOT " if node.op == "!=" else ""))
    if textual:
        value = value.lower()  # SOQL compares text case-insensitively
    op = sql.SQL({"=": "=", "!=": "IS DISTINCT FROM", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[node.op])
    return sql.SQL("({} {} {})").format(expr, op, sql.Literal(value))


def no_semi_join(where):
    """A semi-join handler that refuses one where Salesforce refuses it (under OR or NOT, nested)."""
    def refuse(_col, _node):
        raise soql.SoqlError(f"Semi join sub-selects are not allowed with {where}")
    return refuse


def _date_literal_condition(col: Column, op: str, lit: soql.DateLiteral) -> sql.Composable:
    """`= THIS_MONTH` is within the range, `<` before its start, `>` after its end (days of the org's time zone)."""
    if col.kind not in ("date", "datetime"):
        raise soql.SoqlError(f"value of filter criterion for field '{col.name}' must be of type {col.kind}: "
                             f"{lit.name} is a date literal", "INVALID_FIELD")
    start, end = date_literals.date_range(lit.name, lit.n, date_literals.today(TIME_ZONE))
    if col.kind == "datetime":
        start, end = (literal(col, date_literals.midnight(d, TIME_ZONE)) for d in (start, end))
    start, end = sql.Literal(start), sql.Literal(end)
    within = sql.SQL("({e} >= {s} AND {e} < {t})").format(e=col.expr, s=start, t=end)
    return {"=": within,
            "!=": sql.SQL("({e} IS NULL OR NOT {w})").format(e=col.expr, w=within),
            "<": sql.SQL("({} < {})").format(col.expr, start),
            "<=": sql.SQL("({} < {})").format(col.expr, end),
            ">": sql.SQL("({} >= {})").format(col.expr, end),
            ">=": sql.SQL("({} >= {})").format(col.expr, start)}[op]


def _multipicklist(col: Column, node) -> sql.Composable:
    """INCLUDES ('a;b', 'c'): has both a and b, or has c; EXCLUDES: has none of those."""
    if col.kind != "multipicklist":
        raise soql.SoqlError("INCLUDES or EXCLUDES operator only valid on multipicklist field")
    any_of = sql.SQL(" OR ").join(
        sql.SQL(MULTIPICKLIST_HAS).format(col.expr, sql.Literal(sorted({v.strip() for v in value.split(";")})))
        for value in node.value)
    if node.op == "includes":
        return sql.SQL("({})").format(any_of)
    return sql.SQL("NOT coalesce(({}), false)").format(any_of)




def order_by(col: Column, desc: bool, nulls_last: bool | None) -> sql.Composed:
    """One ORDER BY term: nulls first unless told otherwise, text by its upper case's code points, as SOQL sorts."""
    expr = sql.SQL(ORDER_TEXT).format(col.expr) if col.kind in TEXTUAL else col.expr
    # A system column is never null: left bare, its index keeps serving the SystemModstamp poll's order.
    nulls = "" if col.system and nulls_last is None else " NULLS LAST" if nulls_last else " NULLS FIRST"
    return sql.SQL("{} {}{}").format(expr, sql.SQL("DESC" if desc else "ASC"), sql.SQL(nulls))


def long_text(f: dict) -> bool:
    """A long text area: Salesforce neither filters, sorts nor groups by it."""
    return f["type"] == "textarea" and (f["length"] or 0) > LONG_TEXT


def operand(scope: Scope, term) -> Column:
    """A WHERE operand: a field path, or a date function of one (CALENDAR_YEAR(CreatedDate))."""
    if isinstance(term, str):
        r = scope.resolve(term)
        if long_text(r.field):
            raise soql.SoqlError(f"field '{r.field['name']}' can not be filtered in a query call")
        return typed_column(r.alias, r.field)
    if term.name in soql.DATE_FUNCTIONS:
        return date_function(scope, term)
    raise soql.SoqlError(f"{term.text} is not allowed here: aggregate functions filter in HAVING")


def date_function(scope: Scope, call: soql.Call) -> Column:
    """CALENDAR_YEAR(CreatedDate) and the like: of the UTC value, or the org's local one with convertTimezone()."""
    arg, local = call.arg, False
    if isinstance(arg, soql.Call) and arg.name == "CONVERTTIMEZONE":
        arg, local = arg.arg, True
    if not isinstance(arg, str):
        raise soql.SoqlError(f"{call.name}() takes a date or dateTime field")
    col = scope.column(arg)
    if col.kind == "datetime":
        value = col.expr if col.naive_utc else sql.SQL("({} AT TIME ZONE 'UTC')").format(col.expr)
        if local:
            value = sql.SQL("({} AT TIME ZONE 'UTC' AT TIME ZONE {})").format(value, sql.Literal(TIME_ZONE))
    elif col.kind == "date" and not local and call.name not in ("HOUR_IN_DAY", "DAY_ONLY"):
        value = col.expr
    else:
        raise soql.SoqlError(f"{call.text}: {call.name}() does not take {col.kind} field {col.name}", "INVALID_FIELD")
    kind = "date" if call.name == "DAY_ONLY" else "int"
    return Column(sql.SQL(date_literals.DATE_FUNCTIONS[call.name]).format(value), kind, call.text)
