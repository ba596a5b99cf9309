"""Progress for commands run in a terminal: a bar when someone watches, nothing in logs and Scheduler runs."""

import sys
from contextlib import nullcontext

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
