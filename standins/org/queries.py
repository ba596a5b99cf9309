"""Running SOQL against the org's records, a page at a time, with answers shaped as the REST API's.

`run_page` is what query/queryAll and their next pages call (standins/org/api/query.py); `pages`
yields each page's records to callers outside Flask (Bulk API query jobs). Neither needs a request.
A page costs one statement to count the rows, one for the page, and one per child subquery for all
the page's parents (then the same per level below): never one per parent.
"""

from collections import defaultdict
from datetime import date, datetime

from psycopg import sql

from standins.org import compiler, soql, store
from standins.org.api.common import API_VERSION
from standins.org.compiler import PARENT_LABEL, ChildPlan, FieldItem, Shape
from standins.org.sql_terms import NUMERIC

PAGE_SIZE = 2000
MAX_GROUPS = 2000  # aggregate queries have no next page
PAGE = " LIMIT {} OFFSET {}"
TOO_MANY_GROUPS = "Aggregate query does not support queryMore(), use LIMIT to restrict the results to a single batch"


def run_page(conn, schema: str, text: str, *, start: int = 0, include_deleted: bool = False,
             version: str = API_VERSION, page_size: int = PAGE_SIZE) -> tuple[dict, int | None]:
    """One page of a query's answer ({totalSize, done, records}) and where the next page starts (None: done)."""
    plan = compiler.compile_query(soql.parse(text), schema, include_deleted=include_deleted)
    q = plan.query
    if plan.kind == "count":
        total = max(0, conn.execute(plan.count).fetchone()["n"] - plan.skip)
        return {"totalSize": total if q.limit is None else min(total, q.limit), "done": True, "records": []}, None
    if plan.kind == "aggregate":
        upto = MAX_GROUPS + 1 if q.limit is None else min(q.limit, MAX_GROUPS + 1)
        rows = conn.execute(plan.rows + _page(upto, plan.skip)).fetchall()
        if len(rows) > MAX_GROUPS:
            raise soql.SoqlError(TOO_MANY_GROUPS, "EXCEEDED_ID_LIMIT")
        return {"totalSize": len(rows), "done": True, "records": [_aggregate_record(plan.shape, r) for r in rows]}, None
    matched = conn.execute(plan.count).fetchone()["n"]
    end = matched if q.limit is None else min(matched, plan.skip + q.limit)
    total = max(0, end - plan.skip)
    if q.offset is not None:
        total = min(total, page_size)  # with OFFSET, the answer is one batch: no next page
    rows = conn.execute(plan.rows + _page(max(0, min(page_size, total - start)), plan.skip + start)).fetchall()
    done = start + len(rows) >= total
    result = {"totalSize": total, "done": done, "records": records(conn, plan.shape, rows, version)}
    return result, None if done else start + len(rows)


def pages(conn, schema: str, text: str, *, include_deleted: bool = False, page_size: int = PAGE_SIZE):
    """Every page of a query's records, in order (a list of records per page)."""
    start = 0
    while start is not None:
        result, start = run_page(conn, schema, text, start=start, include_deleted=include_deleted,
                                 page_size=page_size)
        yield result["records"]


def _page(limit: int, offset: int) -> sql.Composed:
    return sql.SQL(PAGE).format(sql.Literal(limit), sql.Literal(offset))


def records(conn, shape: Shape, rows: list, version: str) -> list:
    """Rows as records, with each child subquery run once for all of them."""
    ids = [row[shape.alias + ".id"] for row in rows]
    children = {key: _children(conn, item, ids, version) for key, item in shape.items.items()
                if isinstance(item, ChildPlan)}
    return [_record(shape, row, children, version) for row in rows]


def _record(shape: Shape, row, children: dict, version: str) -> dict:
    obj, record_id = row[shape.alias + ".object"], row[shape.alias + ".id"]
    out = {"attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}}
    for key, item in shape.items.items():
        if isinstance(item, FieldItem):
            out[key] = _value(row[item.label])
        elif isinstance(item, Shape):
            out[key] = None if row[item.alias + ".id"] is None else _record(item, row, {}, version)
        else:
            out[key] = children[key].get(record_id)
    return out


def _children(conn, plan: ChildPlan, parent_ids: list, version: str) -> dict:
    """A child subquery's answer per parent id: {totalSize, done, records}; parents without children get none."""
    if not parent_ids:
        return {}
    rows = conn.execute(plan.statement(parent_ids)).fetchall()
    by_parent = defaultdict(list)
    for row, record in zip(rows, records(conn, plan.shape, rows, version), strict=True):
        by_parent[row[PARENT_LABEL]].append(record)
    return {parent: {"totalSize": len(rs), "done": True, "records": rs} for parent, rs in by_parent.items()}


def _value(value):
    """A selected value as the REST API writes it (system datetimes in Salesforce's format)."""
    return store.format_datetime(value) if isinstance(value, datetime) else value


def _aggregate_record(output, row) -> dict:
    out = {"attributes": {"type": "AggregateResult"}}
    for item in output.items:
        out[item.key] = _aggregate_value(row[item.label], item.column.kind)
    return out


def _aggregate_value(value, kind: str):
    """A grouped value or a function's result in the form the REST API writes its type."""
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind in NUMERIC or kind == "double":
        return float(value)
    if isinstance(value, datetime):
        return store.format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
