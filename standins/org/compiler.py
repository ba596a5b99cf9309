"""SOQL to SQL: a parsed query (standins/org/soql.py) compiled into a Plan the runner executes.

A plain query is one statement over the records table with a LEFT JOIN per parent its field paths
reach (standins/org/sql_terms.py), and a Shape saying how each row becomes a record; a child subquery
is a statement of its own, run once per page of parents for all of them (standins/org/queries.py);
semi-joins are subselects. COUNT() counts; aggregate queries are compiled by standins/org/aggregates.py.
"""

from dataclasses import dataclass, field

from psycopg import sql

from standins.org import aggregates, soql
from standins.org.describe import child_relationship, describe
from standins.org.sql_terms import (
    MAX_RELATIONSHIP_DEPTH,
    Column,
    Scope,
    canonical_object_for_query,
    condition,
    field_of,
    long_text,
    no_semi_join,
    operand,
    order_by,
    typed_column,
    value_expr,
)

MAX_OFFSET = 2000
FIELDS_LIMIT = 200  # FIELDS(ALL) and FIELDS(CUSTOM) need a LIMIT of at most this

SELECT_ROWS = "SELECT {columns} {source} ORDER BY {order}"
COUNT_ROWS = "SELECT count(*) AS n {source}"
# A child subquery for one page of parents; with LIMIT/OFFSET, numbered within each parent.
CHILD_ROWS = "SELECT {columns}, {parent} AS {parent_label} {source} AND {parent} = ANY({ids}) ORDER BY {order}"
CHILD_ROWS_NUMBERED = """
SELECT * FROM (
    SELECT {columns}, {parent} AS {parent_label}, row_number() OVER (PARTITION BY {parent} ORDER BY {order}) AS {n}
      {source} AND {parent} = ANY({ids})
) AS numbered WHERE {n} > {skip} AND {n} <= {upto} ORDER BY {n}
"""
PARENT_LABEL = "parent"
SEMI_JOIN = "{outer} IN (SELECT {inner} {source} AND {inner} IS NOT NULL)"
ANTI_JOIN = "({outer} IS NULL OR {outer} NOT IN (SELECT {inner} {source} AND {inner} IS NOT NULL))"
BAD_CHILD_RELATIONSHIP = ("Didn't understand relationship '{}' in FROM part of query call. If you are attempting to "
                          "use a custom relationship, be sure to append the '__r' after the custom relationship name. "
                          "Please reference your WSDL or the describe call for the appropriate names.")


@dataclass
class FieldItem:
    label: str  # the output column holding the value
    field: dict


@dataclass
class Shape:
    """How a row becomes a record: its type, the alias of its id, and its keys in SELECT order."""
    obj: str
    alias: str
    items: dict = field(default_factory=dict)  # key -> FieldItem | Shape (a parent) | ChildPlan
    fk: dict | None = None  # for a parent: the reference field it is reached by


@dataclass
class ChildPlan:
    """A child subquery (SELECT … FROM Contacts): its statement is made per page of parent ids."""
    relationship: dict  # describe's childRelationships entry
    shape: Shape
    statement: object  # a function of the parent ids -> sql.Composed


@dataclass
class Plan:
    kind: str  # "records", "count" or "aggregate"
    obj: str
    query: soql.Query
    rows: sql.Composed | None = None  # the rows, in order (the runner appends LIMIT/OFFSET)
    count: sql.Composed | None = None  # how many rows match
    shape: object = None  # a Shape (records) or an aggregates.Output
    skip: int = 0  # the query's OFFSET


def compile_query(q: soql.Query, schema: str, *, include_deleted: bool) -> Plan:
    """The plan that answers a query: its SQL and how rows become records."""
    obj = canonical_object_for_query(q.sobject)
    if q.offset is not None and q.offset > MAX_OFFSET:
        raise soql.SoqlError(f"Maximum SOQL offset allowed for apiName {obj} is {MAX_OFFSET}",
                             "NUMBER_OUTSIDE_VALID_RANGE")
    scope = Scope(schema, obj, qualifier=q.alias)
    if q.count:
        return _count_plan(q, scope, include_deleted)
    if q.aggregate:
        rows, output = aggregates.compile_aggregate(q, scope, where_conditions(q, scope, include_deleted))
        return Plan("aggregate", obj, q, rows=rows, shape=output, skip=q.offset or 0)
    shape, where, order = _records(q, scope, include_deleted, depth=1)
    source = scope.source(where)
    rows = sql.SQL(SELECT_ROWS).format(columns=_columns(shape), source=source, order=order)
    return Plan("records", obj, q, rows=rows, count=sql.SQL(COUNT_ROWS).format(source=source), shape=shape,
                skip=q.offset or 0)


def _count_plan(q, scope, include_deleted) -> Plan:
    if len(q.select) != 1:
        raise soql.SoqlError("COUNT() must be the only element in the SELECT list")
    if q.order_by or q.group_by:
        raise soql.SoqlError("COUNT() cannot be used with ORDER BY or GROUP BY: use COUNT(Id)")
    source = scope.source(where_conditions(q, scope, include_deleted))
    return Plan("count", scope.obj, q, count=sql.SQL(COUNT_ROWS).format(source=source), skip=q.offset or 0)


def where_conditions(q: soql.Query, scope: Scope, include_deleted: bool) -> list:
    """The rows a query reads: its object's (live unless queryAll) that match WHERE, semi-joins included."""
    where = scope.base_conditions(include_deleted)
    if q.where is not None:
        where.append(condition(q.where, lambda term: operand(scope, term),
                               lambda col, comparison: _semi_join(scope, col, comparison)))
    return where


def _records(q, scope, include_deleted, depth) -> tuple[Shape, list, sql.Composed]:
    """The record shape of a plain query, its WHERE conditions and its ORDER BY."""
    shape = Shape(scope.obj, scope.root)
    for item in expand_fields(q, scope.obj):
        if item.alias:
            raise soql.SoqlError("only aggregate expressions use field aliasing")
        if isinstance(item.expr, soql.Query):
            _add_child(shape, scope, item.expr, q, include_deleted, depth)
        elif isinstance(item.expr, soql.Call):
            raise soql.SoqlError(f"{item.expr.text}: functions are selected in aggregate queries (with GROUP BY)")
        else:
            _add_field(shape, scope, item.expr)
    where = where_conditions(q, scope, include_deleted)
    order, by_id = [], False
    for term, desc, nulls_last in q.order_by:
        if isinstance(term, soql.Call):
            raise soql.SoqlError(f"ORDER BY {term.text}: functions order aggregate queries (with GROUP BY)")
        r = scope.resolve(term)
        if long_text(r.field) or r.field["type"] == "multipicklist":
            raise soql.SoqlError(f"field '{r.field['name']}' can not be sorted in a query call")
        by_id = by_id or (r.alias, r.field["name"]) == (scope.root, "Id")
        order.append(order_by(typed_column(r.alias, r.field), desc, nulls_last))
    if not by_id:  # a stable order, so that pages neither repeat nor miss rows
        order.append(sql.SQL("{} ASC").format(sql.Identifier(scope.root, "id")))
    return shape, where, sql.SQL(", ").join(order)


def expand_fields(q: soql.Query, obj: str) -> list:
    """The SELECT list with FIELDS(ALL|STANDARD|CUSTOM) replaced by the fields it stands for."""
    named = {s.expr.lower() for s in q.select if isinstance(s.expr, str)}
    out = []
    for item in q.select:
        if not (isinstance(item.expr, soql.Call) and item.expr.name == "FIELDS"):
            out.append(item)
            continue
        kind = item.expr.arg
        if kind in ("ALL", "CUSTOM") and (q.limit is None or q.limit > FIELDS_LIMIT):
            raise soql.SoqlError(f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_LIMIT}")
        for f in describe(obj)["fields"]:
            if (kind == "ALL" or f["custom"] == (kind == "CUSTOM")) and f["name"].lower() not in named:
                named.add(f["name"].lower())  # a field named and also in FIELDS(): once
                out.append(soql.Selected(f["name"]))
    return out


def _add_field(shape: Shape, scope: Scope, path: str) -> None:
    r = scope.resolve(path)
    node = shape
    for name, join in r.relationships:
        if not isinstance(node.items.get(name), Shape):
            node.items[name] = Shape(join.obj, join.alias, fk=join.fk)
        node = node.items[name]
    if r.field["name"] in node.items:
        raise soql.SoqlError(f"duplicate field selected: {path}")
    node.items[r.field["name"]] = FieldItem(scope.label(), r.field)


def _columns(shape: Shape, out=None) -> sql.Composed:
    """The SELECT list a shape reads: each object's id and type, then its fields' values."""
    out = [] if out is None else out
    alias = sql.Identifier(shape.alias)
    out += [sql.SQL("{}.id AS {}").format(alias, sql.Identifier(shape.alias + ".id")),
            sql.SQL("{}.object AS {}").format(alias, sql.Identifier(shape.alias + ".object"))]
    for item in shape.items.values():
        if isinstance(item, Shape):
            _columns(item, out)
        elif isinstance(item, FieldItem):
            out.append(sql.SQL("{} AS {}").format(value_expr(shape.alias, item.field), sql.Identifier(item.label)))
    return sql.SQL(", ").join(out)


def _add_child(shape, scope, sub: soql.Query, parent_q, include_deleted, depth) -> None:
    """A child subquery, `(SELECT Id FROM Contacts WHERE … ORDER BY … LIMIT 5)`, by child relationship name."""
    rel = child_relationship(scope.obj, sub.sobject)
    if rel is None:
        raise soql.SoqlError(BAD_CHILD_RELATIONSHIP.format(sub.sobject), "INVALID_TYPE")
    if depth >= MAX_RELATIONSHIP_DEPTH:
        raise soql.SoqlError(f"subqueries nest at most {MAX_RELATIONSHIP_DEPTH} levels deep")
    if sub.count or sub.aggregate:
        raise soql.SoqlError("a child relationship subquery cannot aggregate")
    if sub.offset is not None and parent_q.limit != 1:
        raise soql.SoqlError("OFFSET in a subquery is only allowed when the outer query has LIMIT 1")
    key = rel["relationshipName"]
    if key in shape.items:
        raise soql.SoqlError(f"duplicate field selected: {key}")
    child = Scope(scope.schema, rel["childSObject"], qualifier=sub.alias)
    child_shape, where, order = _records(sub, child, include_deleted, depth + 1)
    parts = dict(columns=_columns(child_shape), parent=typed_column(child.root, field_of(child.obj, rel["field"])).expr,
                 parent_label=sql.Identifier(PARENT_LABEL), source=child.source(where), order=order)
    if sub.limit is None and sub.offset is None:
        def statement(ids):
            return sql.SQL(CHILD_ROWS).format(**parts, ids=sql.Literal(list(ids)))
    else:
        skip = sub.offset or 0
        upto = sql.Literal(skip + sub.limit) if sub.limit is not None else sql.SQL("'Infinity'::float8")

        def statement(ids):
            return sql.SQL(CHILD_ROWS_NUMBERED).format(**parts, ids=sql.Literal(list(ids)), n=sql.Identifier("n"),
                                                       skip=sql.Literal(skip), upto=upto)
    shape.items[key] = ChildPlan(rel, child_shape, statement)


def _semi_join(scope: Scope, col: Column, node) -> sql.Composable:
    """`Id IN (SELECT AccountId FROM Contact WHERE …)`, and NOT IN, as set-based subselects."""
    sub = node.value
    if col.kind not in ("id", "reference"):
        raise soql.SoqlError(f"semi-join sub-selects compare an Id or reference field, not {col.name}")
    if len(sub.select) != 1 or not isinstance(sub.select[0].expr, str) or "." in sub.select[0].expr:
        raise soql.SoqlError("a semi-join sub-select selects one Id or reference field")
    if sub.group_by or sub.order_by or sub.limit is not None or sub.offset is not None:
        raise soql.SoqlError("semi-join sub-selects take WHERE only (no GROUP BY, ORDER BY, LIMIT or OFFSET)")
    inner_scope = Scope(scope.schema, canonical_object_for_query(sub.sobject), scope.aliases, sub.alias)
    inner = inner_scope.column(sub.select[0].expr)
    if inner.kind not in ("id", "reference"):
        raise soql.SoqlError(f"a semi-join sub-select selects an Id or reference field, not {inner.name}")
    where = inner_scope.base_conditions(include_deleted=False)
    if sub.where is not None:
        where.append(condition(sub.where, lambda term: operand(inner_scope, term), no_semi_join("a nested semi-join")))
    template = SEMI_JOIN if node.op == "in" else ANTI_JOIN
    return sql.SQL(template).format(outer=col.expr, inner=inner.expr, source=inner_scope.source(where))
