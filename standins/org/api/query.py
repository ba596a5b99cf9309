"""SOQL over REST: query and queryAll, their next pages (queryMore) by locator, and a query's column metadata."""

import base64
import json

from flask import jsonify, request

from standins.org import queries, query_columns
from standins.org.api.common import BASE, query_text
from standins.org.errors import SalesforceError


def _locator(query: str, offset: int, include_deleted: bool) -> str:
    # The paging state travels in the locator itself: any org process can serve the next page.
    raw = json.dumps({"q": query, "o": offset, "all": include_deleted}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unlocate(locator: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)))
        if not (isinstance(state, dict) and isinstance(state.get("q"), str) and isinstance(state.get("o"), int)):
            raise ValueError(locator)
        return state
    except (ValueError, TypeError):
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None


def run_query(org, text: str, start: int, include_deleted: bool, version: str) -> dict:
    """One page of a query's answer as REST returns it, `nextRecordsUrl` included; REST and Bulk call this."""
    with org.connection() as conn:
        result, following = queries.run_page(conn, org.schema, text, start=start, include_deleted=include_deleted,
                                             version=version)
    if following is not None:
        endpoint = "queryAll" if include_deleted else "query"
        result["nextRecordsUrl"] = (f"/services/data/v{version}/{endpoint}/"
                                    f"{_locator(text, following, include_deleted)}-{following}")
    return result


def init_app(app, org):
    """Register the query routes."""
    base = BASE

    def answer(text: str, start: int, include_deleted: bool, version: str):
        return jsonify(run_query(org, text, start, include_deleted, version))

    @app.get(base + "/query/")
    @app.get(base + "/query")
    @app.get(base + "/queryAll/")
    @app.get(base + "/queryAll")
    def query(version):
        text = query_text()
        if request.args.get("columns", "").lower() == "true":
            return jsonify(query_columns.column_metadata(org.schema, text))
        return answer(text, 0, request.path.rstrip("/").endswith("queryAll"), version)

    @app.get(base + "/query/<locator>")
    @app.get(base + "/queryAll/<locator>")
    def query_more(version, locator):
        state = _unlocate(locator.rsplit("-", 1)[0])
        return answer(state["q"], state["o"], bool(state.get("all")), version)
