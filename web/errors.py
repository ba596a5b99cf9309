"""Error pages that leak nothing: 4xx say what the user can fix, 5xx say only that it was us."""

import logging

import psycopg
from flask import jsonify, make_response, render_template, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    """Whether the client reads JSON: the API, or a script that asked for it."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def problem(status: int, title: str, detail: str, **extensions):
    """RFC 9457 problem details; `extensions` are extra members (a field's errors, the run it is about)."""
    response = jsonify(type="about:blank", title=title, status=status, detail=detail, **extensions)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def render_error(status: int, title: str, detail: str):
    """An error as problem details for API and JSON clients, or a plain page for people."""
    if _wants_json():
        return problem(status, title, detail)
    return render_template("error.html", status=status, title=title, detail=detail), status


def init_app(app):
    """Register the handlers."""

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        response = make_response(render_error(exc.code or 500, exc.name, exc.description or exc.name))
        # Keep the headers the exception carries: a 401's challenge, a 405's Allow, a 503's Retry-After.
        for name, value in exc.get_headers():
            if name.lower() in ("www-authenticate", "allow", "retry-after"):
                response.headers[name] = value
        return response

    @app.errorhandler(psycopg.errors.QueryCanceled)
    def _query_timeout(exc):
        log.warning("statement timeout: %s", exc)
        return render_error(503, "Service Unavailable", "That took too long. Please try again in a moment.")

    @app.errorhandler(PoolTimeout)
    @app.errorhandler(psycopg.OperationalError)
    def _database_down(exc):
        log.error("database unavailable: %s", exc)
        return render_error(503, "Service Unavailable", "The service is temporarily unavailable. Please try again.")

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unhandled error")
        return render_error(500, "Internal Server Error", "Something went wrong on our side. It has been logged.")
