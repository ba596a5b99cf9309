"""`python manage.py invoices …`: start, watch and schedule invoicing runs from a terminal or Heroku Scheduler.

    python manage.py invoices run --period previous          # what Heroku Scheduler runs daily at 02:00 UTC
    python manage.py invoices run --period 2026-10 --wait    # start and watch (progress bar on a terminal)
    python manage.py invoices estimate --period 2026-10      # what it costs the sync, starting nothing
    python manage.py invoices status 12 [--wait]
    python manage.py invoices resume 12                      # re-enqueue the unfinished chunks of run 12
    python manage.py invoices schedule --at 2026-12-01T02:00 # local: RQ's scheduler in the worker starts it
"""

from datetime import UTC

import click

from commands import progress
from core import config, db, durations, queue
from core import invoicing as rules

PERIOD_HELP = "Billing period: a calendar month YYYY-MM, or 'previous' (last month, UTC)."


def _period(ctx, param, value):
    try:
        return rules.parse_period(value)
    except rules.BadPeriod as exc:
        raise click.BadParameter(str(exc)) from None


def _show_estimate(est: rules.Estimate) -> None:
    amount = "" if est.amount is None else f"{est.amount:,.2f} before tax, "
    click.echo(f"period {est.period}: {est.orders:,} unbilled orders, {amount}{est.invoices:,} invoices to write")
    for line in est.cost.lines():
        click.echo("  " + line)
    for refusal in est.refusals:
        click.echo(f"  over a limit: {refusal}")


@click.group()
def invoices():
    """Batch invoicing of Activated orders per account and month (docs/batch-invoicing.md)."""


@invoices.command()
@click.option("--period", required=True, callback=_period, help=PERIOD_HELP)
def estimate(period):
    """Show what a run would bill and what it costs the sync (rows, bulk batches, drain time); start nothing."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        _show_estimate(rules.estimate(conn, period, cfg))


@invoices.command()
@click.option("--period", required=True, callback=_period, help=PERIOD_HELP)
@click.option("--force", is_flag=True, help="Start even over the plan's row cap or the org's remaining bulk batches.")
@click.option("--wait", is_flag=True, help="Stay until the run ends, showing progress; exit 1 if it failed.")
def run(period, force, wait):
    """Start an invoicing run: plan the chunks and enqueue them for the workers."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        try:
            run_id, est = rules.start_run(conn, queue.connect(cfg.redis_url), period, cfg, force=force)
        except (rules.RunAlreadyActive, rules.OverSyncLimits) as exc:
            raise click.ClickException(str(exc)) from None
        _show_estimate(est)
        chunk_count = len(est.boundaries) + 1 if est.orders else 0
        click.echo(f"run #{run_id} started: {chunk_count} chunk(s) queued; follow it at /ops/invoicing/runs/{run_id}")
        if wait:
            RUNS.watch(conn, run_id, cfg)


@invoices.command()
@click.option("--at", "when", required=True, type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
              help="When to start, in UTC (YYYY-MM-DDTHH:MM).")
@click.option("--period", default="previous", show_default=True, help=PERIOD_HELP)
def schedule(when, period):
    """Local runs: have RQ start a run later (the scheduler every `python -m worker` runs starts it)."""
    if period != "previous":
        _period(None, None, period)
    cfg = config.load()
    job = queue.queue(queue.connect(cfg.redis_url)).enqueue_at(
        when.replace(tzinfo=UTC), rules.SCHEDULED_RUN_JOB, period, description=f"invoice run for {period}"
    )
    click.echo(f"invoice run for {period} scheduled at {when:%Y-%m-%d %H:%M} UTC (job {job.id}); "
               "a worker's scheduler will start it.")


def _line(p: dict) -> str:
    if not p["final"] and p["chunks_done"] == 0 and p["chunks_running"] == 0 and p["elapsed_seconds"] > 5:
        return "no chunk has started yet: is a worker running? (heroku ps:scale worker=1, or make run)"
    eta = f", ETA {durations.human(p['eta_seconds'])}" if p["eta_seconds"] is not None else ""
    failed = f", {p['chunks_failed']} failed" if p["chunks_failed"] else ""
    retried = f", {p['chunks_retried']} retried" if p["chunks_retried"] else ""
    return (f"{p['chunks_done']}/{p['chunks_total']} chunks, {p['orders_invoiced']:,} orders, "
            f"{p['orders_per_second']:,.0f}/s{eta}{failed}{retried}")


RUNS = progress.ChunkedRuns("run", rules.TABLES, rules.progress, rules.enqueue_chunks, rules.summary, _line,
                            start_again=lambda p: f"start a new run for {p['period']} instead")
progress.add_run_commands(invoices, RUNS)
