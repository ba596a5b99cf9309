"""`/ops/model`: the churn model's card and charts, the scoring runs, the accounts at highest risk (operators only).

Starting a run answers 202 Accepted with a Location of the page, where the run's progress shows;
`/ops/model/runs/<id>.json` reads the run and chunk rows the workers update, so any web dyno can
answer. Starting a training answers 202 with the job's status resource (web/background.py).
"""

import logging

import redis
from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request, url_for

from core import queue
from core.scoring import ops as model_page
from core.scoring import runs as rules
from web import background, errors
from web.database import connection
from web.identity import ops_required

bp = Blueprint("scoring", __name__, url_prefix="/ops/model")
log = logging.getLogger(__name__)


def _cfg():
    return current_app.config["APP"]


def _page(status: int = 200, *, error: str | None = None, active_run: int | None = None):
    """The model page; a 4xx/5xx when it carries an error."""
    if error and request.accept_mimetypes.best == "application/json":
        return errors.problem(status, "Scoring run not started", error, run_id=active_run)
    with connection() as conn:
        data = model_page.page(conn, _cfg())
    return render_template("ops/model.html", error=error, active_run=active_run, **data), status


@bp.get("")
@ops_required
def index():
    """The current model's card and charts, score distribution, highest risks, runs and candidates."""
    return _page()


@bp.post("/runs")
@ops_required
def start_run():
    """Start a scoring run: 202 + Location of the page, 409 while one runs, 503 when Redis is down."""
    user = request.authorization.username if request.authorization else "ops"
    with connection() as conn:
        try:
            run_id, _ = rules.start_run(conn, queue.client(_cfg().redis_url), _cfg(), started_by=f"ops:{user}")
        except rules.RunAlreadyActive as exc:
            return _page(409, error=str(exc), active_run=exc.run_id)
        except rules.NoModel as exc:
            return _page(409, error=str(exc))
        except redis.RedisError as exc:
            log.error("could not start a scoring run: %s", exc)
            response = make_response(_page(503, error=background.QUEUE_DOWN))
            response.headers["Retry-After"] = "60"
            return response
        p = rules.progress(conn, run_id, _cfg())
    response = jsonify(p) if request.accept_mimetypes.best == "application/json" else make_response(_page()[0])
    response.status_code = 202
    response.headers["Location"] = url_for("scoring.index")
    return response


@bp.post("/train")
@ops_required
def train():
    """Enqueue a training: 202 with the job's status resource, 503 when Redis is down."""
    try:
        with connection() as conn:
            record, _ = rules.start_training(conn, queue.client(_cfg().redis_url), _cfg())
    except redis.RedisError as exc:
        log.error("could not queue a training: %s", exc)
        return background.queue_down()
    response = make_response(background.status_body(record), 202)
    response.headers["Location"] = background.status_url(record)
    return response


@bp.get("/runs/<int:run_id>.json")
@ops_required
def run_json(run_id: int):
    """A run's progress as JSON: chunks done/total, accounts scored, rows written, ETA, histogram."""
    with connection() as conn:
        p = rules.progress(conn, run_id, _cfg())
    if p is None:
        abort(404, f"There is no scoring run #{run_id}.")
    return jsonify(p)
