"""`python manage.py scores …`: train the churn model and run the nightly scoring (docs/scoring.md).

    python manage.py scores train --only-on sunday   # daily Scheduler job that trains weekly
    python manage.py scores train [--wait]     # train, register, promote if better
    python manage.py scores run [--wait]       # nightly: score every account, write changed scores back
    python manage.py scores estimate           # the sync cost of a run, without starting it
    python manage.py scores status 12 [--wait]
    python manage.py scores resume 12          # re-enqueue the unfinished chunks of run 12
"""

import sys
import time
from datetime import UTC, datetime

import click
import redis

from commands import progress
from commands.progress import terminal_progress
from core import config, db, durations, jobs, queue
from core.scoring import runs as rules
from core.scoring.cost import Cost

QUEUE_DOWN = "Redis is not answering, so nothing was started or recorded. Is a Redis running (make run)?"


def _show_cost(est: Cost) -> None:
    for line in est.lines():
        click.echo(line)


@click.group()
def scores():
    """Churn risk: train the model, score every account, write the risk back through Connect."""


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@scores.command()
@click.option("--wait", is_flag=True, help="Stay until the training ends; exit 1 if it failed.")
@click.option("--only-on", type=click.Choice(WEEKDAYS), help="Do nothing on other days (UTC): Heroku Scheduler's "
              "longest interval is a day, so a weekly training is a daily job that trains on one day.")
def train(wait, only_on):
    """Enqueue a training (the worker trains, registers and applies the promotion rule)."""
    if only_on and WEEKDAYS[datetime.now(UTC).weekday()] != only_on:
        click.echo(f"today is not a {only_on} (UTC): no training.")
        return
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        try:
            record, started = rules.start_training(conn, queue.connect(cfg.redis_url), cfg)
        except redis.RedisError:
            raise click.ClickException(QUEUE_DOWN) from None
        click.echo(f"training {'queued' if started else 'already queued today'}: job {record['id']}")
        if not wait:
            return
        waited, hinted = time.monotonic(), False
        with terminal_progress(1, "training") as bar:
            while record["state"] not in (jobs.FINISHED, jobs.FAILED):
                time.sleep(0.5)
                record = jobs.get(conn, cfg.app_schema, record["id"])
                if record["state"] == jobs.QUEUED and not hinted and time.monotonic() - waited > 10:
                    click.echo(f"not started yet: is a worker serving the '{rules.TRAIN_QUEUE}' queue running? "
                               "(heroku ps:scale worker=1, or make run)")
                    hinted = True
            bar.update(1)
    if record["state"] == jobs.FAILED:
        click.echo(f"training failed: {record['error']}")
        sys.exit(1)
    result = record["result"] or {}
    click.echo(f"model v{result.get('version')}: {result.get('status')}"
               + (f" — {result['reason']}" if result.get("reason") else ""))


@scores.command()
def estimate():
    """Show the sync cost of a scoring run now; start nothing."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        _show_cost(rules.estimate(conn, cfg))


@scores.command()
@click.option("--wait", is_flag=True, help="Stay until the run ends, showing progress; exit 1 if it failed.")
def run(wait):
    """Start a scoring run: plan the chunks and enqueue them for the workers."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        try:
            run_id, est = rules.start_run(conn, queue.connect(cfg.redis_url), cfg)
        except rules.ScoringError as exc:
            raise click.ClickException(str(exc)) from None
        except redis.RedisError:
            raise click.ClickException(QUEUE_DOWN) from None
        _show_cost(est)
        p = rules.progress(conn, run_id, cfg)
        click.echo(f"scoring run #{run_id} started: {p['chunks_total']} chunk(s) queued; follow it at /ops/model")
        if wait:
            RUNS.watch(conn, run_id, cfg)


def _line(p: dict) -> str:
    if not p["final"] and p["chunks_done"] == 0 and p["chunks_running"] == 0 and p["elapsed_seconds"] > 5:
        return "no chunk has started yet: is a worker running? (heroku ps:scale worker=1, or make run)"
    eta = f", ETA {durations.human(p['eta_seconds'])}" if p["eta_seconds"] is not None else ""
    return (f"{p['chunks_done']}/{p['chunks_total']} chunks, {p['accounts_scored']:,} accounts, "
            f"{p['rows_written']:,} written{eta}")


RUNS = progress.ChunkedRuns("scoring run", rules.TABLES, rules.progress, rules.enqueue_chunks, rules.summary, _line)
progress.add_run_commands(scores, RUNS)
