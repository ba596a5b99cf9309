"""What every operator page shares: durations in human units, and the API/row budget (web/templates/ops/layout.html).

`init_app` registers the Jinja filter `duration` (core/durations.py) and a context processor that
gives templates `ops_budget()`: the one function that measures the budget the layout shows on every
operator page (rows against the plan's cap, the org's API requests, Bulk API batches). It is a
function, not a value, so only the pages that show the budget pay for its queries.
"""

from flask import current_app

from core import connect, connect_info, durations, sync_cost
from web.database import connection


def init_app(app) -> None:
    """Register the `duration` filter and `ops_budget()` for every template."""
    app.add_template_filter(durations.human, "duration")
    app.context_processor(lambda: {"ops_budget": budget, "bulk_threshold": connect.BULK_WRITE_THRESHOLD})


def budget() -> dict:
    """The sync's budget now: `cost` (core/sync_cost.py: rows, waiting writes, bulk batches) and `api` (the org's
    API requests today, as far as the ConnectInfo knows them)."""
    cfg = current_app.config["APP"]
    info = connect_info.provider(cfg.connect_info)
    with connection() as conn:
        return {"cost": sync_cost.measure(conn, cfg), "api": info.connection(conn)}
