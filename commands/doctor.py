"""`python manage.py doctor`: is this deploy (or this machine) complete? One line per check, exit 1 on any failure."""

import sys

import click

from core import config, deploy
from core import doctor as checks


@click.command()
def doctor():
    """Check Postgres, Connect's schema, the mapped tables, migrations, Redis, workers, config and the org."""
    cfg = config.load()
    findings = checks.run(cfg)
    for line in checks.render(findings, cfg.heroku_app_name):
        click.echo(line)
    # Heroku Scheduler has no API an app can read: these are for a person to tick off in the dashboard.
    click.echo("\nScheduler jobs this app expects (heroku addons:open scheduler; Scheduler has no API to check):")
    for job in deploy.SCHEDULER_JOBS:
        click.echo(f"  [ ] {job.command:<50} {job.every}: {job.why}")
    failed = [f.name for f in findings if not f.ok]
    if failed:
        click.echo(f"\ndoctor: {len(failed)} check(s) failed: {', '.join(failed)}")
        sys.exit(1)
    click.echo(f"\ndoctor: all {len(findings)} checks passed")
