"""Whole calls refused by a refusal switch (standins/org/refusals.py): maintenance (503) and the request limit (403).

Answered before any resource, in the shape each API answers errors in: REST and Apex REST a JSON
list, Bulk API 1.0 its `{"exceptionCode", "exceptionMessage"}` (or XML) error, SOAP (login and the
Metadata API) a fault with the partner API's ApiFault detail. `maintenance` refuses every API call,
login included; `limit` refuses the calls the org counts against DailyApiRequests (REST, Apex REST,
Bulk 1.0), and only with a live session — a bad session is still 401, as with the real limit.
Registered before api/common.py's hooks; the HTML view is never refused, so a switch can be turned off.
"""

from xml.sax.saxutils import escape

from flask import Response, request

from standins.org import refusals
from standins.org.api import bulk1
from standins.org.api.common import SESSION_PATHS, bearer_token
from standins.org.bulk_jobs import BulkError
from standins.org.errors import error_response

API_PATHS = ("/services/data/", "/services/apexrest/", "/services/async/", "/services/Soap/")
BULK1_PATHS = ("/services/async/",)
# Bulk API 1.0 has no code for an unavailable server: `Unknown` is the documented catch-all.
BULK1_CODES = {"SERVER_UNAVAILABLE": "Unknown", "REQUEST_LIMIT_EXCEEDED": "ExceededQuota"}
SOAP_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
    '<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault"><sf:exceptionCode>{code}'
    "</sf:exceptionCode><sf:exceptionMessage>{message}</sf:exceptionMessage></sf:UnexpectedErrorFault></detail>"
    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)


def _counted() -> bool:
    """Whether this call counts against DailyApiRequests (what the real limit refuses)."""
    path = request.path
    return (path.startswith(SESSION_PATHS) and path != "/services/data/") or path.startswith(BULK1_PATHS)


def _token() -> str:
    return request.headers.get("X-SFDC-Session", "").removeprefix("Bearer ").strip() or bearer_token()


def answer(exc) -> Response:
    """The refusal in the shape of the API called."""
    if request.path.startswith(BULK1_PATHS):
        response = bulk1.error_response(BulkError(BULK1_CODES[exc.code], exc.message))
        if exc.status == 503:  # Bulk 1.0 answers its own errors with 400, the limit too; an outage is the server's
            response.status_code = 503
        return response
    if request.path.startswith("/services/Soap/"):
        return Response(SOAP_FAULT.format(code=exc.code, message=escape(exc.message)), status=exc.status,
                        content_type="text/xml")
    return error_response(exc)


def init_app(app, org):
    """Register the hook (after api/transport.py's, before api/common.py's)."""

    @app.before_request
    def _refused_call():
        if not request.path.startswith(API_PATHS):
            return None
        with org.connection() as conn:
            refusal = refusals.call_refusal(conn, org.schema,
                                            lambda: _counted() and org.valid_session(_token(), conn))
        return answer(refusal) if refusal else None
