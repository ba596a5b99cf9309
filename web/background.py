"""Starting background work from a request, and the job status resource every such request answers with.

Every feature that starts long work from a request calls `start()`, which answers
`202 Accepted` with a `Location` of the job's status resource (the views in web/jobs.py):

- `/jobs/<id>` (HTML, or JSON for `Accept: application/json`) and `/jobs/<id>.json`: state,
  progress done/total, rate, error, and the result link once finished;
- `/jobs/<id>/file`: the file the job wrote (export_files), streamed out of Postgres; 410 once expired.

Jobs that operators start (owner `OPS`) are read under `/ops/jobs/…`, where browsers send the
operators' HTTP Basic credentials. This module defines no routes, so any view module may use it.
"""

import logging

import redis
from flask import current_app, jsonify, make_response, render_template, request, url_for

from core import jobs, queue
from web import database
from web.errors import render_error

log = logging.getLogger(__name__)
# The owner of jobs that operators start.
OPS = "ops"
QUEUE_DOWN = ("The job queue is not answering, so this was not started and nothing was recorded. "
              "Try again in a minute.")


def start(kind: str, params: dict, func: str, *, owner: str, timeout: int = 3600):
    """Enqueue `func(job_id)` (unless the same run is queued or running) and answer 202 with its Location."""
    cfg = current_app.config["APP"]
    try:
        with database.connection() as conn:
            record, started = jobs.submit(conn, queue.client(cfg.redis_url), cfg.app_schema, kind=kind,
                                          owner=owner, params=params, func=func, timeout=timeout)
    except redis.RedisError as exc:
        log.error("could not queue %s: %s", kind, exc)
        return queue_down()
    log.info("job %s %s for %s", record["id"], "started" if started else "joined", owner)
    response = make_response(status_body(record), 202)
    response.headers["Location"] = status_url(record)
    response.headers["Cache-Control"] = "no-store"
    return response


def queue_down():
    """503 when Redis does not answer: nothing was started or recorded (problem details or a page)."""
    response = make_response(render_error(503, "Service Unavailable", QUEUE_DOWN))
    response.headers["Retry-After"] = "60"
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


def status_body(record: dict, file: dict | None = None):
    """The status as JSON for clients that ask for it, else the HTML page."""
    status = describe(record, file)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(status)
    return render_template("jobs/status.html", job=status, json_url=status_url(record, json=True))
