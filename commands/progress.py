"""Progress for commands run in a terminal (a bar when someone watches, nothing in logs and Scheduler runs),
and the `status` and `resume` commands every chunked run shares (invoicing, scoring)."""

import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from core import chunked_runs, config, db, queue


def terminal_progress(total: int | None, label: str, *, enabled: bool = True):
    """`click.progressbar` when stdout is a terminal; a silent stand-in with the same `update(n)` otherwise."""
    if enabled and sys.stdout.isatty():
        return click.progressbar(length=total, label=label, show_pos=True)
    return nullcontext(_Silent())


class _Silent:
    """A progress bar that draws nothing."""

    def update(self, n_steps: int, current_item=None) -> None:
        """Nothing to draw when nobody is watching."""


def watch_run(read, line, summary, label: str, poll: float = 0.5) -> None:
    """Follow a chunked run until it ends: a progress bar on a terminal, a line per change otherwise.

    `read()` gives the run's progress (core/chunked_runs.py's keys and the pattern's own),
    `line(p)` one line of it, `summary(p)` the closing lines; exit 1 when the run failed.
    """
    p = read()
    if sys.stdout.isatty() and p["chunks_total"]:
        with click.progressbar(length=p["chunks_total"], label=label, show_eta=False,
                               item_show_func=lambda q: line(q) if q else "") as bar:
            shown = 0
            while True:
                p = read()
                bar.update(p["chunks_done"] - shown, p)
                shown = p["chunks_done"]
                if p["final"]:
                    break
                time.sleep(poll)
    else:
        last, last_at = None, 0.0
        while not p["final"]:
            if (p["chunks_done"], p["chunks_running"]) != last and time.monotonic() - last_at >= 5:
                click.echo(f"{datetime.now(UTC):%H:%M:%S} {line(p)}")
                last, last_at = (p["chunks_done"], p["chunks_running"]), time.monotonic()
            time.sleep(poll)
            p = read()
    click.echo(summary(p))
    if p["state"] == "failed":
        sys.exit(1)


@dataclass(frozen=True)
class ChunkedRuns:
    """One pattern's chunked runs, as the shared commands read and re-enqueue them."""

    noun: str  # how messages name a run: "run", "scoring run"
    tables: chunked_runs.Tables
    progress: Callable  # (conn, run_id, cfg) -> the run's progress, or None
    enqueue_chunks: Callable  # (queue, run_id, chunk numbers) -> how many were enqueued
    summary: Callable  # (progress) -> the closing lines
    line: Callable  # (progress) -> one line while it runs
    start_again: Callable = lambda p: "start a new run instead"  # what to do about a run that has ended

    def watch(self, conn, run_id: int, cfg) -> None:
        """Follow a run until it ends; exit 1 when it failed."""
        watch_run(lambda: self.progress(conn, run_id, cfg), self.line, self.summary, f"{self.noun} #{run_id}")

    def found(self, conn, run_id: int, cfg) -> dict:
        """The run's progress; a usage error (exit 2) when there is no such run."""
        p = self.progress(conn, run_id, cfg)
        if p is None:
            raise click.BadParameter(f"there is no {self.noun} #{run_id}", param_hint="RUN_ID")
        return p


def add_run_commands(group: click.Group, runs: ChunkedRuns) -> None:
    """Add `status RUN_ID [--wait]` and `resume RUN_ID` for one pattern's runs to its command group."""

    @group.command()
    @click.argument("run_id", type=int)
    @click.option("--wait", is_flag=True, help="Stay until the run ends, showing progress.")
    def status(run_id, wait):
        """Show a run's progress (and wait for it with --wait)."""
        cfg = config.load()
        with db.connect(cfg.database_url) as conn:
            p = runs.found(conn, run_id, cfg)
            if wait:
                runs.watch(conn, run_id, cfg)
            else:
                click.echo(runs.summary(p))

    @group.command()
    @click.argument("run_id", type=int)
    def resume(run_id):
        """Enqueue again the chunks of a running run that are not done (e.g. after Redis lost its jobs)."""
        cfg = config.load()
        with db.connect(cfg.database_url) as conn:
            p = runs.found(conn, run_id, cfg)
            if p["final"]:
                raise click.ClickException(f"{runs.noun} #{run_id} is {p['state']}; {runs.start_again(p)}.")
            pending = chunked_runs.unfinished_chunks(conn, runs.tables, cfg.app_schema, run_id)
        added = runs.enqueue_chunks(queue.queue(queue.connect(cfg.redis_url)), run_id, pending)
        click.echo(f"{runs.noun} #{run_id}: {len(pending)} chunk(s) not done, {added} enqueued again "
                   f"({len(pending) - added} still have a job in the queue).")
