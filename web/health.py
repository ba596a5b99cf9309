"""`/healthz`: is this dyno able to serve? It checks the two things every request may need."""

import logging
import time

from flask import Blueprint, current_app, jsonify

from core import queue
from web.database import connection

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def _check(probe) -> dict:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure means "down"; the reason goes to the log, not the client
        log.warning("health check failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _postgres():
    with connection() as conn:
        conn.execute("SELECT 1")


def _redis():
    queue.client(current_app.config["APP"].redis_url).ping()


@bp.get("/healthz")
def healthz():
    """200 when Postgres and Redis answer, 503 naming the one that does not."""
    checks = {"postgres": _check(_postgres), "redis": _check(_redis)}
    healthy = all(c["ok"] for c in checks.values())
    response = jsonify(status="ok" if healthy else "unavailable", checks=checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
