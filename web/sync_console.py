"""The sync health console (operators only): is Connect keeping up, and what did Salesforce refuse?

Everything on it comes from what Heroku Connect leaves in Postgres (mapped tables, the trigger log
and its archive) plus the app's own samples, so it works on Heroku as it does locally.
"""

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for

from core import connect_info, sync_health, trigger_log, write_retries
from web import answers
from web.database import connection
from web.errors import render_error
from web.identity import ops_required

bp = Blueprint("sync_console", __name__)


def _cfg():
    return current_app.config["APP"]


def _snapshot(conn):
    cfg = _cfg()
    info = connect_info.provider(cfg.connect_info)
    mappings = sync_health.mapping_health(conn, cfg.connect_schema, info=info)
    return {
        "connection": sync_health.connection(conn, info, cfg.api_budget.daily_limit),
        "mappings": mappings,
        "plan": sync_health.plan_usage(cfg.connect_plan, mappings),
        "write_errors": trigger_log.failed_entries(conn, cfg.connect_schema),
    }


@bp.get("/ops/sync")
@ops_required
def console():
    """Rows against the plan's cap; per mapping: rows, last sync, backlog and its age, write errors, API use."""
    cfg = _cfg()
    with connection() as conn:
        data = _snapshot(conn)
        chart = sync_health.chart(sync_health.history(conn, cfg.app_schema))
    return render_template("ops/sync.html", chart=chart, **data)


@bp.get("/ops/sync.json")
@ops_required
def console_json():
    """The same figures as JSON (for monitoring)."""
    with connection() as conn:
        data = _snapshot(conn)
    for m in data["mappings"]:
        m.pop("failed_rows", None)
    return jsonify(data)


@bp.post("/ops/sync/retry")
@ops_required
def retry():
    """Requeue archived failed writes, the way Connect retries them."""
    try:
        ids = [int(v) for v in request.form.getlist("archive_id")]
    except ValueError:
        return render_error_page("Choose the failed writes to retry.")
    if not ids:
        return render_error_page("Choose the failed writes to retry.")
    with connection() as conn:
        count = trigger_log.requeue_entries(conn, _cfg().connect_schema, ids)
    flash(f"{count} failed write(s) requeued: Connect sends them again on its next cycle.", "success")
    return redirect(url_for("sync_console.console"))


@bp.post("/ops/sync/rows/retry")
@ops_required
def retry_row():
    """Send one refused row again: its archived failed writes requeued, or the row saved again."""
    table = request.form.get("table", "")
    try:
        row_id = int(request.form.get("row_id", ""))
    except ValueError:
        return render_error_page("Choose the refused row to send again.")
    result = answers.send_again(write_retries.row(table, row_id))
    if result.how is write_retries.How.REQUEUED:
        flash(f"{len(result.entries)} failed write(s) of {table} row {row_id} requeued: Connect sends them again on "
              "its next cycle.", "success")
    else:
        flash(f"The archive no longer has {table} row {row_id}'s failed write: the row was saved again, and "
              "Connect sends it as a new change.", "success")
    return redirect(url_for("sync_console.console"))


def render_error_page(message):
    """A 400 with a message an operator can act on."""
    return render_error(400, "Bad Request", message)
