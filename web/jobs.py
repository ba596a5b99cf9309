"""Job status pages and results: `/jobs/<id>` for the customer who started a job, `/ops/jobs/<id>` for operators.

Jobs are started by web/background.py's `start()`, whose 202 points here. Operators sign in with
HTTP Basic, and browsers send those credentials only under the path they were asked for, so jobs
that ops start live under `/ops/jobs/…` (same views, ops_required). Anyone else asking for a job
gets 404, as if it did not exist.
"""

from flask import Blueprint, abort, current_app, jsonify, make_response

from core import export_files, jobs
from web import background, database, streams
from web.identity import current_customer, is_operator, ops_required

bp = Blueprint("jobs", __name__)


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


def _status(job_id: str, *, ops: bool, as_json: bool):
    """The status resource, never cached."""
    record, file = _load(job_id, ops=ops)
    body = jsonify(background.describe(record, file)) if as_json else background.status_body(record, file)
    response = make_response(body)
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
