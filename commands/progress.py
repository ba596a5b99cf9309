"""Progress for commands run in a terminal: a bar when someone watches, nothing in logs and Scheduler runs."""

import sys
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import click


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
