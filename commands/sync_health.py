"""`python manage.py sync-health sample` and `schedule`: the history behind the sync console's chart."""

import click

from core import config, queue, sync_sampler


@click.group("sync-health")
def sync_health():
    """The sync health console's history (docs/sync-console.md)."""


@sync_health.command("sample")
def sample():
    """Record every mapping's backlog and errors once (Heroku Scheduler: every 10 minutes)."""
    click.echo(f"sampled {sync_sampler.sample(config.load())} mapping(s)")


@sync_health.command("schedule")
def schedule():
    """Start the worker's self-rescheduling sampler (one sample a minute, on the low queue)."""
    if sync_sampler.schedule(queue.connect(config.load().redis_url)):
        click.echo("sampler scheduled: the worker takes a sample every minute")
    else:
        click.echo("the sampler is already running")
