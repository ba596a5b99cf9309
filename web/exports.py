"""CSV exports, two ways: streamed now (`….csv`), or written by a background job (`POST …/exports`).

Customers export their own account's orders; operators export all orders or all invoices.
The stream sends its header row before any query runs, then rows straight from COPY; the
background export is a job (core/jobs.py) whose status page links to the finished file.
"""

from datetime import date

from flask import Blueprint, abort, current_app, render_template

from core import exports
from web import background, streams
from web.identity import current_customer, customer_required, ops_required

bp = Blueprint("exports", __name__)
JOB_FUNCTION = "worker.exports.export_csv"
# Exports operators may run over every account.
OPS_EXPORTS = ("orders", "invoices")


def _stream(export: exports.Export, scope: dict):
    """The export as a streamed CSV download."""
    cfg = current_app.config["APP"]
    header = export.header_row()

    def produce(conn):
        # The header leaves before the first query: the router sees a first byte at once.
        yield header
        yield from exports.stream(conn, export, scope, cfg.connect_schema, cfg.app_schema)

    stem = export.filename.removesuffix(".csv")
    return streams.from_database(
        produce,
        mimetype="text/csv",
        no_statement_timeout=True,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}-{date.today().isoformat()}.csv"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _start_job(export: exports.Export, scope: dict, owner: str):
    """The export as a background job; 202 with the job's status page."""
    return background.start("export-" + export.name, {"export": export.name, "scope": scope}, JOB_FUNCTION, owner=owner)


@bp.get("/orders/export.csv")
@customer_required
def orders_csv():
    """Stream the customer's own orders as CSV."""
    return _stream(exports.get("account-orders"), {"account_sfid": current_customer().account_sfid})


@bp.post("/orders/exports")
@customer_required
def orders_export_job():
    """Export the customer's own orders in the background."""
    customer = current_customer()
    return _start_job(exports.get("account-orders"), {"account_sfid": customer.account_sfid}, str(customer.user_id))


@bp.get("/ops/exports")
@ops_required
def ops_index():
    """The operators' export page: download now, or in the background."""
    return render_template("exports/ops.html", exports=[exports.get(name) for name in OPS_EXPORTS])


@bp.get("/ops/exports/<name>.csv")
@ops_required
def ops_csv(name):
    """Stream all orders or all invoices as CSV."""
    if name not in OPS_EXPORTS:
        abort(404)
    return _stream(exports.get(name), {})


@bp.post("/ops/exports/<name>")
@ops_required
def ops_export_job(name):
    """Export all orders or all invoices in the background."""
    if name not in OPS_EXPORTS:
        abort(404)
    return _start_job(exports.get(name), {}, background.OPS)
