"""HTTP behaviour every client meets before any resource: key order, empty 204s, CORS for loopback pages.

- JSON keys keep the order Salesforce sends them in (`attributes` first, then the fields; `totalSize`,
  `done`, `records`), not sorted: CLIs print records in that order.
- A 204 carries no body and no Content-Type, as Salesforce's do.
- CORS: a browser page on a loopback origin (http(s)://localhost, 127.0.0.1 or [::1], any port) may call
  the REST API, as if a developer had put it on the org's CORS allowlist. Its preflight `OPTIONS` is
  answered without a session and is not an API request; any other origin gets no CORS headers, so
  the browser refuses, as for an origin missing from a real org's allowlist.
"""

import re

from flask import Response, request

# Registered before api/common.py's hooks: a preflight must be answered before the session check.
CORS_METHODS = "GET, POST, PATCH, PUT, DELETE, HEAD, OPTIONS"
CORS_MAX_AGE = "86400"
LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")
CORS_PATHS = ("/services/", "/id/")


def allowed_origin() -> str | None:
    """The request's Origin when it is a loopback page calling an API path, else None."""
    origin = request.headers.get("Origin", "")
    if request.path.startswith(CORS_PATHS) and LOOPBACK_ORIGIN.match(origin):
        return origin
    return None


def init_app(app, org):
    """Register the transport hooks (before every other module's)."""
    app.json.sort_keys = False

    @app.before_request
    def _preflight():
        origin = allowed_origin()
        if request.method != "OPTIONS" or origin is None or "Access-Control-Request-Method" not in request.headers:
            return None
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested
        response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        return response

    @app.after_request
    def _cors_and_empty_bodies(response):
        origin = allowed_origin()
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.vary.add("Origin")
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
            response.set_data(b"")
        return response
