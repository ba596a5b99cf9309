"""Job status pages and results: `/jobs/<id>` for the customer who started a job, `/ops/jobs/<id>` for operators.

Every feature that starts long work from a request calls `start()`, which answers
`202 Accepted` with a `Location` of the job's status resource:

- `/jobs/<id>` (HTML, or JSON for `Accept: application/json`) and `/jobs/<id>.json`: state,
  progress done/total, rate, error, and the result link once finished;
- `/jobs/<id>/file`: the file the job wrote (export_files), streamed out of Postgres; 410 once expired.

Operators sign in with HTTP Basic, and browsers send those credentials only under the path they
were asked for, so jobs that ops start live under `/ops/jobs/…` (same views, ops_required).
Anyone else asking for a job gets 404, as if it did not exist.
"""

import logging

import redis
from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request, url_for

from core import export_files, jobs, queue
from web import database, streams
from web.errors import render_error
from web.identity import current_customer, is_operator, ops_required

bp = Blueprint("jobs", __name__)
log = logging.getLogger(__name__)
OPS = "ops"


def start(kind: str, params: dict, func: str, *, owner: str, timeout: int = 3600):
    """Enqueue `func(job_id)` (unless the same run is queued or running) and answer 202 with its Location."""
    cfg = current_app.config["APP"]
    try:
        with database.connection() as conn:
            record, started = jobs.submit(conn, queue.client(cfg.redis_url), cfg.app_schema, kind=kind,
                                          owner=owner, params=params, func=func, timeout=timeout)
    except redis.RedisError as exc:
        log.error("could not queue %s: %s", kind, exc)
        return render_error(503, "Service Unavailable", "Background work cannot be started right now. Try again.")
    log.info("job %s %s for %s", record["id"], "started" if started else "joined", owner)
    response = make_response(_status_body(record), 202)
    response.headers["Location"] = status_url(record)
    response.headers["Cache-Control"] = "no-store"
    return response


def status_url(record: dict, *, json: bool = False) -> str:
    """Where the job's owner reads its status."""
    ops = record["owner"] == OPS
    endpoint = ("jobs.ops_status" if ops else "jobs.status") + ("_json" if json else "")
    return url_for(endpoint, job_id=record["id"])


def describe(record: dict, file: dict | None) -> dict:
    """The status resource as JSON."""
    done, total = record["done"], record["total"]
    result_url, expired = None, False
    if record["state"] == jobs.FINISHED:
        href = (record["result"] or {}).get("href")
        if isinstance(href, str) and href.startswith("/") and not href.startswith("//"):
            result_url = href
        elif file is not None and not file["expired"]:
            result_url = url_for(("jobs.ops_file" if record["owner"] == OPS else "jobs.file"), job_id=record["id"])
        elif file is not None or (record["result"] or {}).get("file"):
            expired = True
    return {
        "id": record["id"],
        "kind": record["kind"],
        "state": record["state"],
        "done": done,
        "total": total,
        "percent": round(100 * done / total, 1) if total else (100.0 if record["state"] == jobs.FINISHED else None),
        "rate": record["rate"],
        "attempts": record["attempts"],
        "error": record["error"],
        "result": record["result"],
        "result_url": result_url,
        "expired": expired,
        "expires_at": file["expires_at"].isoformat() if file and file["expires_at"] else None,
        "created_at": record["created_at"].isoformat(),
        "started_at": record["started_at"].isoformat() if record["started_at"] else None,
        "updated_at": record["updated_at"].isoformat(),
        "finished_at": record["finished_at"].isoformat() if record["finished_at"] else None,
        "url": status_url(record),
    }


def _load(job_id: str, *, ops: bool) -> tuple[dict, dict | None]:
    """The job and its file, or 404 for anyone who may not see it."""
    cfg = current_app.config["APP"]
    with database.connection() as conn:
        record = jobs.get(conn, cfg.app_schema, job_id)
        customer = current_customer()
        allowed = record is not None and (
            ops or jobs.visible_to(record, user_id=customer.user_id if customer else None, operator=is_operator())
        )
        if not allowed:
            abort(404)
        return record, export_files.get(conn, cfg.app_schema, job_id)


def _status_body(record: dict, file: dict | None = None):
    """The status as JSON for clients that ask for it, else the HTML page."""
    status = describe(record, file)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(status)
    return render_template("jobs/status.html", job=status, json_url=status_url(record, json=True))


def _status(job_id: str, *, ops: bool, as_json: bool):
    """The status resource, never cached."""
    record, file = _load(job_id, ops=ops)
    response = make_response(jsonify(describe(record, file)) if as_json else _status_body(record, file))
    response.headers["Cache-Control"] = "no-store"
    return response


def _file(job_id: str, *, ops: bool):
    """The job's file streamed out of Postgres: 404 until it is ready, 410 once it has expired."""
    record, file = _load(job_id, ops=ops)
    if file is None and (record["result"] or {}).get("file"):
        abort(410, "This file has expired and was deleted. Start the export again.")
    if file is None or record["state"] != jobs.FINISHED or file["expires_at"] is None:
        abort(404, "This job has no file to download yet.")
    if file["expired"]:
        abort(410, "This file has expired. Start the export again.")
    app_schema, count = current_app.config["APP"].app_schema, file["chunks"]
    return streams.from_database(
        lambda conn: export_files.chunks(conn, app_schema, job_id, count),
        mimetype=file["content_type"],
        # Written by the job on the primary; a follower may not have it yet.
        follower=False,
        headers={
            "Content-Length": str(file["bytes"]),
            "Content-Disposition": f'attachment; filename="{file["filename"]}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get("/jobs/<job_id>")
def status(job_id):
    """The job's status page (JSON for clients that ask for it)."""
    return _status(job_id, ops=False, as_json=False)


@bp.get("/jobs/<job_id>.json")
def status_json(job_id):
    """The job's status as JSON (what the page's script polls)."""
    return _status(job_id, ops=False, as_json=True)


@bp.get("/jobs/<job_id>/file")
def file(job_id):
    """Download the file the job wrote."""
    return _file(job_id, ops=False)


@bp.get("/ops/jobs/<job_id>")
@ops_required
def ops_status(job_id):
    """Any job's status page, for operators."""
    return _status(job_id, ops=True, as_json=False)


@bp.get("/ops/jobs/<job_id>.json")
@ops_required
def ops_status_json(job_id):
    """Any job's status as JSON, for operators."""
    return _status(job_id, ops=True, as_json=True)


@bp.get("/ops/jobs/<job_id>/file")
@ops_required
def ops_file(job_id):
    """Download any job's file, for operators."""
    return _file(job_id, ops=True)
