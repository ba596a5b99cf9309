"""SOQL to SQL: a parsed query (standins/org/soql.py) compiled against the org's records table.

Records are JSON (`fields`) with the system fields as columns; a field's value is cast to its describe
type for comparisons and ordering, text compares case-insensitively as SOQL does, and datetimes are
compared in UTC.
"""

from datetime import date, datetime

from psycopg import sql

from standins.org import soql
from standins.org.describe import canonical_object, field_of
from standins.org.errors import SalesforceError
from standins.org.store import SYSTEM_COLUMNS

_CASTS = {"date": "date", "datetime": "timestamptz", "double": "float8", "currency": "float8", "percent": "float8",
          "int": "float8", "boolean": "boolean"}


def _column(obj, name) -> tuple[sql.Composable, dict]:
    f = field_of(obj, name)
    if f["name"] in SYSTEM_COLUMNS:
        col = sql.Identifier(SYSTEM_COLUMNS[f["name"]])
        if f["type"] == "datetime":
            col = sql.SQL("({} AT TIME ZONE 'UTC')").format(col)
        return col, f
    cast = _CASTS.get(f["type"])
    expr = sql.SQL("(fields->>{})").format(sql.Literal(f["name"]))
    return (sql.SQL("{}::{}").format(expr, sql.SQL(cast)) if cast else expr), f


def _literal(f, value):
    kind = f["type"]
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            raise soql.SoqlError(f"value of filter criterion for field '{f['name']}' must be of type dateTime and "
                                 "should not be enclosed in quotes", "INVALID_FIELD")
    elif kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
    elif kind in ("double", "currency", "percent", "int"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif isinstance(value, str):
        return value
    raise soql.SoqlError(f"value of filter criterion for field '{f['name']}' must be of type {kind}", "INVALID_FIELD")


def _condition(obj, node) -> sql.Composable:
    if isinstance(node, soql.BoolOp):
        if node.op == "not":
            return sql.SQL("NOT ({})").format(_condition(obj, node.parts[0]))
        joiner = sql.SQL(" AND " if node.op == "and" else " OR ")
        return sql.SQL("({})").format(joiner.join(_condition(obj, p) for p in node.parts))
    col, f = _column(obj, node.field)
    textual = f["type"] in ("string", "textarea", "picklist", "email", "phone", "url")
    if node.op in ("in", "notin"):
        values = [_literal(f, v) for v in node.value]
        if textual:
            col, values = sql.SQL("lower({})").format(col), [v.lower() if v is not None else v for v in values]
        neg = sql.SQL("NOT " if node.op == "notin" else "")
        return sql.SQL("{}({} = ANY({}))").format(neg, col, sql.Literal(values))
    if node.op == "like":
        return sql.SQL("({} ILIKE {})").format(col, sql.Literal(node.value))
    value = _literal(f, node.value)
    if value is None:
        if node.op not in ("=", "!="):
            raise soql.SoqlError("null can only be compared with = or !=")
        return sql.SQL("({} IS {}NULL)").format(col, sql.SQL("NOT " if node.op == "!=" else ""))
    if textual:
        # SOQL compares text case-insensitively.
        col, value = sql.SQL("lower({})").format(col), value.lower()
    op = sql.SQL({"=": "=", "!=": "IS DISTINCT FROM", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[node.op])
    return sql.SQL("({} {} {})").format(col, op, sql.Literal(value))


def compile_query(q: soql.Query, schema: str, *, include_deleted: bool) -> tuple[str, sql.Composed, list]:
    """The object name, the SQL that answers the query, and the canonical names of the selected fields."""
    obj = canonical_object_for_query(q.sobject)
    names = [field_of(obj, n)["name"] for n in q.fields]
    where = [sql.SQL("object = {}").format(sql.Literal(obj))]
    if not include_deleted:
        where.append(sql.SQL("NOT is_deleted"))
    if q.where is not None:
        where.append(_condition(obj, q.where))
    order = []
    for name, desc, nulls_last in q.order_by:
        col, _ = _column(obj, name)
        nulls = "" if nulls_last is None else (" NULLS LAST" if nulls_last else " NULLS FIRST")
        order.append(sql.SQL("{} {}{}").format(col, sql.SQL("DESC" if desc else "ASC"), sql.SQL(nulls)))
    statement = sql.SQL("SELECT * FROM {}.records WHERE {}").format(
        sql.Identifier(schema), sql.SQL(" AND ").join(where))
    if order:
        statement += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(order))
    return obj, statement, names


def canonical_object_for_query(name):
    """The object a FROM clause names; an unknown one is INVALID_TYPE, as Salesforce answers it."""
    try:
        return canonical_object(name)
    except SalesforceError:
        raise soql.SoqlError(f"sObject type '{name}' is not supported.", "INVALID_TYPE") from None
