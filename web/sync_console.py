"""The sync health console (operators only): is Connect keeping up, and what did Salesforce refuse?

Everything on it comes from what Heroku Connect leaves in Postgres (mapped tables, the trigger log
and its archive) plus the app's own samples, so it works on Heroku as it does locally.
"""

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for

from core import connect, connect_info, sync_cost, sync_health, trigger_log, write_retries
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
        "connection": sync_health.connection(conn, info),
        "operations": connect_info.operations(info),
        "mappings": mappings,
        "plan": sync_health.plan_usage(cfg.connect_plan, mappings),
        "write_errors": trigger_log.failed_entries(conn, cfg.connect_schema),
    }


@bp.get("/ops/sync")
@ops_required
def console():
    """Rows against the plan's cap; per mapping: rows, time since its last poll, backlog and its age, write errors,
    API use. What the sync costs is the operator pages' budget card (web/templates/ops/layout.html)."""
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
        cost = sync_cost.measure(conn, _cfg())
    data.pop("operations")  # buttons of the page, not figures
    for m in data["mappings"]:
        m.pop("failed_rows", None)
    return jsonify({**data, "sync_cost": _cost_json(cost)})


def _cost_json(cost: sync_cost.Cost) -> dict:
    """The sync's cost figures as JSON (the same as the page's "What the sync costs")."""
    return {"plan": cost.plan, "row_cap": cost.row_cap, "synced_rows": cost.synced_rows, "waiting": cost.waiting,
            "uses_bulk": cost.uses_bulk, "bulk_batches": cost.bulk_batches,
            "bulk_remaining": cost.bulk.remaining if cost.bulk else None,
            "soap_calls": cost.soap_calls, "drain_seconds": cost.drain_seconds}


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


@bp.post("/ops/sync/operations")
@ops_required
def operation():
    """Ask Connect for a connection operation, where the ConnectInfo offers it (locally; never on Heroku)."""
    cfg = _cfg()
    info = connect_info.provider(cfg.connect_info)
    name = request.form.get("operation", "")
    if name not in connect_info.operations(info):
        return render_error_page("That operation is not offered here: on Heroku use the Connect dashboard or "
                                 "the CLI plugin (heroku connect:pause, connect:resume, connect:mapping:reload).")
    object_name = request.form.get("object_name") or None
    if name == "mapping:reload" and object_name not in connect.mappings():
        return render_error_page("Choose a mapped object to reload.")
    with connection() as conn:
        flash(info.request(conn, name, object_name), "success")
    return redirect(url_for("sync_console.console"))


def render_error_page(message):
    """A 400 with a message an operator can act on."""
    return render_error(400, "Bad Request", message)
