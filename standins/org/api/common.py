"""What every API call shares: the session check, API-request counting, the limit header, error shapes, bodies.

Every answer carries `Sforce-Limit-Info: api-usage=N/MAX`; each /services/data call counts against
a daily maximum (LOCAL_ORG_DAILY_API_LIMIT, default 15,000) and answers 403 REQUEST_LIMIT_EXCEEDED
once it is spent, as a real org does. Errors are JSON lists shaped like Salesforce's.
"""

import json
import logging

from flask import g, request

from standins.org import limits, soql
from standins.org.errors import SalesforceError, error_response

log = logging.getLogger(__name__)
API_VERSION = "59.0"
# The org's own Id and its one user, the integration user every session belongs to.
ORG_ID = "00D000000000001EAA"
USER_ID = "005000000000001AAA"
# The org's time zone (Organization.TimeZoneSidKey): SOQL date literals such as TODAY are days here.
TIME_ZONE = "America/Los_Angeles"
# sObject Collections take at most this many records a call.
COLLECTION_LIMIT = 200
# The REST base every data route hangs off: /services/data/vNN.N
BASE = "/services/data/v<version>"
# WSGI environ keys a composite request (api/composite.py) sets on the subrequests it runs through the
# app: a subrequest is counted with its composite, not on its own; the composite's allOrNone, when
# true, overrides the allOrNone of an sObject Collections subrequest.
SUBREQUEST = "local_org.subrequest"
COMPOSITE_ALL_OR_NONE = "local_org.composite_all_or_none"


def bearer_token() -> str:
    """The session id a client sent (`Authorization: Bearer …` or `OAuth …`)."""
    return request.headers.get("Authorization", "").removeprefix("Bearer ").removeprefix("OAuth ").strip()


def body() -> dict | list:
    """The request's JSON body, whatever Content-Type it came with; JSON_PARSER_ERROR otherwise."""
    try:
        data = json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {exc}") from None
    return data


def record_body() -> dict:
    """A JSON object body (one record's fields)."""
    data = body()
    if not isinstance(data, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object as the request body")
    return data


def init_app(app, org):
    """Register the hooks and error handlers every API route relies on."""

    @app.before_request
    def _authenticate_and_count():
        if not request.path.startswith("/services/data/") or request.environ.get(SUBREQUEST):
            return None
        if not org.valid_session(bearer_token()):
            return error_response(SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        with org.connection() as conn:
            used, limit = limits.spend(conn, org.schema, "DailyApiRequests")
        g.api_usage = (used, limit)
        if used > limit:
            return error_response(SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
        return None

    @app.after_request
    def _limit_header(response):
        if "api_usage" not in g:
            with org.connection() as conn:
                g.api_usage = (limits.used(conn, org.schema, "DailyApiRequests"),
                               limits.maximum(conn, org.schema, "DailyApiRequests"))
        used, limit = g.api_usage
        response.headers["Sforce-Limit-Info"] = f"api-usage={min(used, limit)}/{limit}"
        return response

    @app.errorhandler(SalesforceError)
    def _salesforce_error(exc):
        return error_response(exc)

    @app.errorhandler(soql.SoqlError)
    def _soql_error(exc):
        return error_response(SalesforceError(400, exc.code, str(exc)))

    @app.errorhandler(404)
    def _not_found(_exc):
        return error_response(SalesforceError(404, "NOT_FOUND",
                                              f"The requested resource does not exist: {request.path}"))

    @app.errorhandler(405)
    def _method(_exc):
        return error_response(SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                                              f"Allowed are {', '.join(_exc.valid_methods or [])}"))

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("local org: unexpected error")
        return error_response(SalesforceError(500, "UNKNOWN_EXCEPTION",
                                              f"An unexpected error occurred: {type(exc).__name__}"))
