"""Per-request plumbing: the request id that ties app logs to Heroku's router logs."""

import re
import uuid

from flask import g, request

from core import logs

# What Heroku's router accepts and forwards as X-Request-ID.
_VALID_ID = re.compile(r"^[A-Za-z0-9+/=-]{20,200}$")


def init_app(app):
    """Take the router's X-Request-ID (or make one), log with it, and echo it back."""

    @app.before_request
    def _request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _VALID_ID.match(incoming) else str(uuid.uuid4())
        g.request_id_token = logs.request_id.set(g.request_id)

    @app.after_request
    def _echo_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response

    @app.teardown_request
    def _forget_request_id(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.request_id.reset(token)
