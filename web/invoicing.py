"""`/ops/invoicing`: start an invoicing run and watch it (operators only).

Starting answers 202 Accepted with a Location of the run's status page; the page polls
`/ops/invoicing/runs/<id>.json`, which reads the run and chunk rows the workers update, so any
web dyno can answer and a restart loses nothing.
"""

import logging

import redis
from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for

from core import durations, queue
from core import invoicing as rules
from web import background, errors
from web.database import connection
from web.identity import ops_required

bp = Blueprint("invoicing", __name__, url_prefix="/ops/invoicing")
log = logging.getLogger(__name__)
# csrf_token is the CSRF guard's (web/csrf.py); any other field is a mistake worth saying so.
FORM_FIELDS = {"csrf_token", "period", "force"}


def _wants_json() -> bool:
    """Whether the client asked for JSON rather than the page."""
    return request.accept_mimetypes.best == "application/json"


def _form(status: int, *, error: str | None = None, period: str = "", est=None, active_run: int | None = None):
    """The start form with the recent runs; a 4xx when it carries an error."""
    if error and _wants_json():
        return errors.problem(status, "Invoice run not started", error, run_id=active_run)
    with connection() as conn:
        runs = rules.recent_runs(conn, current_app.config["APP"])
    return render_template(
        "ops/invoicing.html", runs=runs, error=error, period=period or rules.previous_period(), estimate=est,
        active_run=active_run,
    ), status


@bp.get("")
@ops_required
def index():
    """The start form, recent runs and, with ?period=, the estimate for that period."""
    period = request.args.get("period", "").strip()
    if not period:
        return _form(200)
    try:
        period = rules.parse_period(period)
    except rules.BadPeriod as exc:
        return _form(400, error=str(exc), period=period)
    cfg = current_app.config["APP"]
    with connection() as conn:
        est = rules.estimate(conn, period, cfg)
    return _form(200, period=period, est=est)


@bp.post("")
@ops_required
def start():
    """Start a run: 202 + Location of its status page, or the form again with a clear error."""
    unknown = sorted(set(request.form) - FORM_FIELDS)
    period = request.form.get("period", "")
    if unknown:
        return _form(400, error=f"Unknown field(s): {', '.join(unknown)}.", period=period)
    try:
        period = rules.parse_period(period)
    except rules.BadPeriod as exc:
        return _form(400, error=str(exc), period=period)
    cfg = current_app.config["APP"]
    user = request.authorization.username if request.authorization else "ops"
    with connection() as conn:
        try:
            force = request.form.get("force", "") in ("on", "1", "true")
            run_id, _ = rules.start_run(conn, queue.client(cfg.redis_url), period, cfg, force=force,
                                        started_by=f"ops:{user}")
        except rules.RunAlreadyActive as exc:
            return _form(409, error=str(exc), period=period, active_run=exc.run_id)
        except rules.OverSyncLimits as exc:
            return _form(409, error=str(exc), period=period)
        except redis.RedisError as exc:
            log.error("could not start the invoice run for %s: %s", period, exc)
            response = current_app.make_response(_form(503, error=background.QUEUE_DOWN, period=period))
            response.headers["Retry-After"] = "60"
            return response
        p = _with_durations(rules.progress(conn, run_id, cfg))
    location = url_for("invoicing.run_page", run_id=run_id)
    if _wants_json():
        response = jsonify(p)
    else:
        response = current_app.make_response(_run_html(p))
    response.status_code = 202
    response.headers["Location"] = location
    return response


def _progress_or_404(run_id: int) -> dict:
    """A run's progress, or 404 when there is no such run."""
    with connection() as conn:
        p = rules.progress(conn, run_id, current_app.config["APP"])
    if p is None:
        abort(404, f"There is no invoice run #{run_id}.")
    return _with_durations(p)


def _with_durations(p: dict) -> dict:
    """The progress with its times in human units too (`eta_text`, `elapsed_text`), as the page and its script show."""
    eta = p["eta_seconds"]
    return {**p, "eta_text": durations.human(eta) if eta is not None else ("—" if p["final"] else "not known yet"),
            "elapsed_text": durations.human(p["elapsed_seconds"])}


def _run_html(p: dict):
    cfg = current_app.config["APP"]
    with connection() as conn:
        chunk_rows = rules.chunks(conn, p["id"], cfg)
    return render_template("ops/invoicing_run.html", run=p, chunks=chunk_rows)


@bp.get("/runs/<int:run_id>")
@ops_required
def run_page(run_id: int):
    """A run's live progress (the page polls the JSON view) and, once finished, its summary."""
    return _run_html(_progress_or_404(run_id))


@bp.get("/runs/<int:run_id>.json")
@ops_required
def run_json(run_id: int):
    """A run's progress as JSON: chunks done/total, orders, rate, ETA, failures, totals."""
    return jsonify(_progress_or_404(run_id))
