"""What every API call shares: the session check, API-request counting, the limit header, error shapes, bodies.

Every answer carries `Sforce-Limit-Info: api-usage=N/MAX`; each /services/data and Apex REST call
counts against a daily maximum (LOCAL_ORG_DAILY_API_LIMIT, default 15,000) and answers 403
REQUEST_LIMIT_EXCEEDED once it is spent, as a real org does. Errors are JSON lists shaped like Salesforce's.
"""

import json
import logging
import re

from flask import abort, g, request

from standins.org import files, ids, limits, soql
from standins.org.errors import SalesforceError, error_response

log = logging.getLogger(__name__)
API_VERSION = "59.0"
# ORG_ID (the org's own Id) and USER_ID (its one user) are defined with the Id scheme: the store needs them too.
ORG_ID, USER_ID = ids.ORG_ID, ids.USER_ID
# The org's time zone (Organization.TimeZoneSidKey): SOQL date literals such as TODAY are days here.
TIME_ZONE = "America/Los_Angeles"
# Who the org and its user are (Organization.Name, the User's names, e-mail and profile), as login,
# userinfo and the identity URL report them; a session carries its own username.
ORGANIZATION_NAME = "Local Org"
USER_FIRST_NAME, USER_LAST_NAME = "Local", "Developer"
USER_EMAIL = "developer@local.org"
PROFILE_ID = "00e000000000001AAA"  # System Administrator
USER_LAST_MODIFIED = "2024-01-01T00:00:00.000+0000"  # User.LastModifiedDate
# The API versions the org serves: Summer '14 (31.0), the oldest not retired, to Winter '26 (65.0)
# (raise the top as Salesforce releases). Any other /services/data/vNN.N path is 404 NOT_FOUND.
API_VERSIONS = tuple(f"{n}.0" for n in range(31, 66))
# sObject Collections take at most this many records a call.
COLLECTION_LIMIT = 200
# The REST base every data route hangs off: /services/data/vNN.N
BASE = "/services/data/v<version>"
VERSION_IN_PATH = re.compile(r"^/services/data/v([^/]*)")
# The paths that need a session and count as API requests: the REST API (all but its list of versions) and Apex REST.
SESSION_PATHS = ("/services/data/", "/services/apexrest/")
# WSGI environ keys a composite request (api/composite.py) sets on the subrequests it runs through the
# app: a subrequest is counted with its composite, not on its own; the composite's allOrNone, when
# true, overrides the allOrNone of an sObject Collections subrequest.
SUBREQUEST = "local_org.subrequest"
COMPOSITE_ALL_OR_NONE = "local_org.composite_all_or_none"


def bearer_token() -> str:
    """The session id a client sent (`Authorization: Bearer …` or `OAuth …`)."""
    return request.headers.get("Authorization", "").removeprefix("Bearer ").removeprefix("OAuth ").strip()


def instance_url() -> str:
    """The scheme and host the request came to: the org's instance URL, as clients should call it back."""
    return request.host_url.rstrip("/")


def body() -> dict | list:
    """The request's JSON body, whatever Content-Type it came with; JSON_PARSER_ERROR otherwise."""
    if (request.content_length or 0) > files.JSON_MESSAGE_LIMIT:
        raise files.too_large("A JSON request is limited to 50 MB")
    try:
        data = json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {exc}") from None
    return data


def query_text() -> str:
    """The SOQL a query call carries in `q`; MALFORMED_QUERY without it."""
    text = request.args.get("q")
    if text is None:
        raise SalesforceError(400, "MALFORMED_QUERY", "The q parameter is required")
    return text


def record_body() -> dict:
    """One record's fields: a JSON object body, or a multipart one (a JSON part and binary parts for blob fields)."""
    if request.mimetype == "multipart/form-data":
        return files.multipart_record(request.form, request.files)
    data = body()
    if not isinstance(data, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object as the request body")
    return data


def single_slashes(wsgi_app):
    """WSGI middleware reading `//services/data/…` as `/services/data/…`, as Salesforce does.

    The Salesforce CLI joins an instance URL ending in `/` to a path starting with one when it looks
    the user up after logging in.
    """
    def middleware(environ, start_response):
        environ["PATH_INFO"] = re.sub(r"/{2,}", "/", environ.get("PATH_INFO", ""))
        return wsgi_app(environ, start_response)
    return middleware


def init_app(app, org):
    """Register the hooks and error handlers every API route relies on."""
    app.wsgi_app = single_slashes(app.wsgi_app)

    @app.before_request
    def _authenticate_and_count():
        # The list of versions (/services/data) is public, as on a real org; everything below it needs a session.
        # A composite's subrequests were counted with their composite.
        if (not request.path.startswith(SESSION_PATHS) or request.path == "/services/data/"
                or request.environ.get(SUBREQUEST)):
            return None
        with org.connection() as conn:  # one connection for the session check and the count
            if not org.valid_session(bearer_token(), conn):
                return error_response(SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
            used, limit = limits.spend(conn, org.schema, "DailyApiRequests")
        g.api_usage = (used, limit)
        if used > limit:
            return error_response(SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
        version = VERSION_IN_PATH.match(request.path)
        if version and version.group(1) not in API_VERSIONS:
            abort(404)
        return None

    @app.after_request
    def _limit_header(response):
        if "api_usage" not in g:
            with org.connection() as conn:
                g.api_usage = limits.usage(conn, org.schema, "DailyApiRequests")
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
