"""Aggregate SOQL: COUNT(Id), COUNT_DISTINCT, SUM, AVG, MIN, MAX with GROUP BY and HAVING, as one GROUP BY statement.

The answer is AggregateResult records: grouped fields keyed by their field name (`Name` for
`Account.Name`), functions by their alias or `expr0`, `expr1`, … in order of the unaliased ones.
Salesforce's rules hold: every selected field is grouped or aggregated, SUM and AVG take numbers,
no function takes a checkbox, only groupable types group, and the answer is at most 2,000 groups
(aggregate queries have no next page; standins/org/queries.py refuses more with EXCEEDED_ID_LIMIT).
"""

from dataclasses import dataclass

from psycopg import sql

from standins.org import soql
from standins.org.sql_terms import (
    NUMERIC,
    Column,
    Scope,
    condition,
    date_function,
    long_text,
    no_semi_join,
    order_by,
    typed_column,
)

AGGREGATE_SQL = {"COUNT": "count({})", "COUNT_DISTINCT": "count(DISTINCT {})", "SUM": "sum({})", "AVG": "avg({})",
                 "MIN": "min({})", "MAX": "max({})"}
# Which field types each function takes (Salesforce's "Support for Field Types in Aggregate Functions").
_COMPARABLE = NUMERIC | {"date", "datetime", "string", "email", "id", "phone", "picklist", "reference", "textarea",
                         "url", "combobox"}
TAKES = {"COUNT": _COMPARABLE, "COUNT_DISTINCT": _COMPARABLE, "MIN": _COMPARABLE, "MAX": _COMPARABLE,
         "SUM": NUMERIC, "AVG": NUMERIC}
NOT_GROUPABLE = {"double", "currency", "percent", "datetime", "multipicklist", "base64"}

AGGREGATE_ROWS = "SELECT {columns} {source}"


@dataclass
class OutputItem:
    key: str  # the AggregateResult key: an alias, the field's name, or exprN
    label: str  # the SQL output column
    column: Column
    field: dict | None = None  # a grouped field's describe entry
    call: soql.Call | None = None  # a function: its text is the column's displayName


@dataclass
class Output:
    """How a row becomes an AggregateResult record."""
    items: list


def compile_aggregate(q: soql.Query, scope: Scope, where: list) -> tuple[sql.Composed, Output]:
    """An aggregate query's statement (ORDER BY included) and how its rows become records."""
    groups = {}
    for term in q.group_by:
        key, col, f = _grouped(scope, term)
        if key in groups:
            raise soql.SoqlError(f"duplicate field in GROUP BY: {term if isinstance(term, str) else term.text}")
        groups[key] = col, f
    if q.having is not None and not q.group_by:
        raise soql.SoqlError("HAVING needs GROUP BY")
    items, unnamed = [], 0
    for selected in q.select:
        expr = selected.expr
        if isinstance(expr, soql.Query):
            raise soql.SoqlError("a child relationship subquery cannot be selected in an aggregate query")
        if isinstance(expr, soql.Call) and expr.name == "FIELDS":
            raise soql.SoqlError("FIELDS() cannot be used in an aggregate query")
        if isinstance(expr, soql.Call) and expr.name in soql.AGGREGATES:
            col, f = aggregate_column(scope, expr), None
        else:
            col, f = _must_be_grouped(scope, expr, groups)
        key = selected.alias
        if key is None and isinstance(expr, str):
            key = f["name"]
        elif key is None:
            key, unnamed = f"expr{unnamed}", unnamed + 1
        if any(i.key.lower() == key.lower() for i in items):
            raise soql.SoqlError(f"duplicate alias: {key}")
        items.append(OutputItem(key, scope.label(), col, f, expr if isinstance(expr, soql.Call) else None))
    having = None
    if q.having is not None:
        having = condition(q.having, lambda term: _having_term(scope, term, groups), no_semi_join("HAVING"))
    order = [order_by(_having_term(scope, term, groups), desc, nulls_last) for term, desc, nulls_last in q.order_by]
    statement = sql.SQL(AGGREGATE_ROWS).format(
        columns=sql.SQL(", ").join(sql.SQL("{} AS {}").format(i.column.expr, sql.Identifier(i.label)) for i in items),
        source=scope.source(where))
    if groups:
        statement += sql.SQL(" GROUP BY {}").format(sql.SQL(", ").join(col.expr for col, _ in groups.values()))
    if having is not None:
        statement += sql.SQL(" HAVING {}").format(having)
    order += [sql.SQL("{} ASC").format(col.expr) for col, _ in groups.values()]  # a stable order
    if order:
        statement += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(order))
    return statement, Output(items)


def aggregate_column(scope: Scope, call: soql.Call) -> Column:
    """COUNT(Id), SUM(Amount__c), …; a function of a field type it does not take is refused as Salesforce does."""
    if not isinstance(call.arg, str):
        raise soql.SoqlError(f"{call.text}: an aggregate function takes a field")
    col = scope.column(call.arg)
    if col.kind not in TAKES[call.name]:
        raise soql.SoqlError(f"field {col.name} does not support aggregate operator {call.name}")
    kind = "int" if call.name in ("COUNT", "COUNT_DISTINCT") else "double" if call.name in ("SUM", "AVG") else col.kind
    return Column(sql.SQL(AGGREGATE_SQL[call.name]).format(col.expr), kind, call.text, col.naive_utc)


def _grouped(scope: Scope, term) -> tuple[tuple, Column, dict | None]:
    """A GROUP BY term: how to recognise it in SELECT, its column, and its field (None for a date function)."""
    if isinstance(term, str):
        r = scope.resolve(term)
        f = r.field
        if f["type"] in NOT_GROUPABLE or long_text(f):
            raise soql.SoqlError(f"field '{f['name']}' can not be grouped in a query call")
        return ("field", r.alias, f["name"]), typed_column(r.alias, f), f
    if term.name in soql.DATE_FUNCTIONS:
        return _function_key(scope, term), date_function(scope, term), None
    raise soql.SoqlError(f"GROUP BY {term.text}: only fields and date functions group")


def _function_key(scope: Scope, call: soql.Call) -> tuple:
    arg, local = call.arg, False
    if isinstance(arg, soql.Call):
        arg, local = arg.arg, True
    r = scope.resolve(arg) if isinstance(arg, str) else None
    return ("function", call.name, local, r and (r.alias, r.field["name"]))


def _must_be_grouped(scope: Scope, term, groups) -> tuple[Column, dict | None]:
    """A selected (or HAVING / ORDER BY) term that is not an aggregate: it must be one of the GROUP BY terms."""
    if isinstance(term, str):
        r = scope.resolve(term)
        key = ("field", r.alias, r.field["name"])
    elif term.name in soql.DATE_FUNCTIONS:
        key = _function_key(scope, term)
    else:
        raise soql.SoqlError(f"{term.text} is not an aggregate function")
    if key not in groups:
        raise soql.SoqlError(f"Field must be grouped or aggregated: {term if isinstance(term, str) else term.text}")
    return groups[key]


def _having_term(scope: Scope, term, groups) -> Column:
    if isinstance(term, soql.Call) and term.name in soql.AGGREGATES:
        return aggregate_column(scope, term)
    return _must_be_grouped(scope, term, groups)[0]
