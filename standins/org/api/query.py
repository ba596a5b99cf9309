"""SOQL over REST: query and queryAll, and their next pages (queryMore) by locator."""

import base64
import json

from flask import jsonify, request
from psycopg import sql

from standins.org import compiler, soql, store
from standins.org.api.common import BASE
from standins.org.errors import SalesforceError

PAGE_SIZE = 2000
COUNT_OF = "SELECT count(*) AS n FROM ({}) AS q"


def _locator(query: str, offset: int, include_deleted: bool) -> str:
    # The paging state travels in the locator itself: any org process can serve the next page.
    raw = json.dumps({"q": query, "o": offset, "all": include_deleted}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unlocate(locator: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)))
    except (ValueError, TypeError):
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None


def run_query(org, text: str, offset: int, include_deleted: bool, version: str) -> dict:
    """One page of a query's answer as REST returns it; every API that runs SOQL (REST, Bulk) calls this."""
    q = soql.parse(text)
    obj, statement, names = compiler.compile_query(q, org.schema, include_deleted=include_deleted)
    first = q.offset + offset
    end = None if q.limit is None else q.offset + q.limit
    with org.connection() as conn:
        if q.count:
            count = conn.execute(sql.SQL(COUNT_OF).format(statement)).fetchone()["n"]
            count = max(0, min(count, end or count) - q.offset)
            return {"totalSize": count, "done": True, "records": []}
        total = conn.execute(sql.SQL(COUNT_OF).format(statement)).fetchone()["n"]
        total = max(0, (min(total, end) if end is not None else total) - q.offset)
        page = PAGE_SIZE if end is None else max(0, min(PAGE_SIZE, end - first))
        rows = conn.execute(statement + sql.SQL(" LIMIT {} OFFSET {}").format(
            sql.Literal(page), sql.Literal(first))).fetchall()
    result = {"totalSize": total, "done": offset + len(rows) >= total,
              "records": [store.to_json(obj, r, names) for r in rows]}
    if not result["done"]:
        result["nextRecordsUrl"] = (f"/services/data/v{version}/{'queryAll' if include_deleted else 'query'}/"
                                    f"{_locator(text, offset + len(rows), include_deleted)}-{offset + len(rows)}")
    return result


def init_app(app, org):
    """Register the query routes."""
    base = BASE

    @app.get(base + "/query/")
    @app.get(base + "/query")
    @app.get(base + "/queryAll/")
    @app.get(base + "/queryAll")
    def query(version):
        text = request.args.get("q")
        if text is None:
            raise SalesforceError(400, "MALFORMED_QUERY", "The q parameter is required")
        return jsonify(run_query(org, text, 0, request.path.rstrip("/").endswith("queryAll"), version))

    @app.get(base + "/query/<locator>")
    @app.get(base + "/queryAll/<locator>")
    def query_more(version, locator):
        state = _unlocate(locator.rsplit("-", 1)[0])
        return jsonify(run_query(org, state["q"], state["o"], state["all"], version))
