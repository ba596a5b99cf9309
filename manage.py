"""Operations commands, run by the release phase, Heroku Scheduler, one-off dynos and developers.

    python manage.py release        # what the Procfile's release: runs on every deploy
    python manage.py migrate        # apply the app schema's pending migrations
    python manage.py exports …      # CSV exports and the cleanup of old export files
    python manage.py invite …       # portal logins: invite, create-demo-users, api-token
    python manage.py postdeploy     # app.json's postdeploy: migrate, then print the steps left to do by hand
    python manage.py invoices run --period previous   # batch invoicing (docs/batch-invoicing.md)
"""

import sys

import click

from core import config, db, invoicing_cli, portal_commands
from core.migrate import migrate as run_migrations
from worker import export_commands


@click.group()
def cli():
    """Heroku Connect reference app: operations commands."""


cli.add_command(invoicing_cli.invoices)


@cli.command()
def migrate():
    """Apply pending migrations to the app's own schema (never to Connect's)."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        ran = run_migrations(conn, cfg.app_schema, cfg.connect_schema, log=click.echo)
    click.echo(f"{len(ran)} migration(s) applied; schema {cfg.app_schema} is up to date.")


@cli.command()
@click.pass_context
def release(ctx):
    """The release phase: migrate before the new dynos boot (a failure stops the deploy)."""
    ctx.invoke(migrate)


# What app.json cannot do: Connect's org link is an OAuth flow in a browser, and Scheduler jobs
# are created in the dashboard only. The new app's owner is told exactly what remains.
NEXT_STEPS = """\
Next steps (Heroku Connect cannot be finished from app.json):
  1. Link the Salesforce org:   heroku addons:open herokuconnect --app <app>
     (choose schema {schema}, then authorize the org in the browser)
  2. Import the mappings:       heroku connect:import sql/connect/mapping.json --app <app>
  3. Add the Scheduler job:     heroku addons:open scheduler --app <app>
     (the python manage.py commands to schedule are listed in docs/architecture.md, "Scheduled work")
  4. Check the sync both ways:  heroku connect:info --app <app>
"""


@cli.command()
@click.pass_context
def postdeploy(ctx):
    """app.json's postdeploy: migrate the new app's database, then print what is left to do by hand."""
    ctx.invoke(migrate)
    click.echo(NEXT_STEPS.format(schema=config.load().connect_schema))


cli.add_command(export_commands.cli)
for command in portal_commands.COMMANDS:
    cli.add_command(command)


@cli.group("sync-health")
def sync_health_cli():
    """The sync health console's history (docs/sync-console.md)."""


@sync_health_cli.command("sample")
def sync_health_sample():
    """Record every mapping's backlog and errors once (Heroku Scheduler: every 10 minutes)."""
    from worker import sync_health

    click.echo(f"sampled {sync_health.sample()} mapping(s)")


@sync_health_cli.command("schedule")
def sync_health_schedule():
    """Start the worker's self-rescheduling sampler (one sample a minute, on the low queue)."""
    from core import queue
    from worker import sync_health

    if sync_health.schedule(queue.connect(config.load().redis_url)):
        click.echo("sampler scheduled: the worker takes a sample every minute")
    else:
        click.echo("the sampler is already running")


@cli.group()
def org():
    """The Salesforce org Connect syncs with."""


@org.command("setup")
@click.option("--dry-run", is_flag=True, help="Only list what exists and what would be created.")
def org_setup(dry_run):
    """Create the custom object and fields the mapping needs (Metadata API); safe to rerun."""
    from core import org_setup as setup_org
    from core import salesforce

    created = setup_org.setup(salesforce.connect(config.load().salesforce), dry_run=dry_run, echo=click.echo)
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} {len(created)} component(s); the org has everything sql/connect/mapping.json maps.")


@cli.command("verify-sync")
@click.option("--object", "object_name", default="Contact", show_default=True, help="A read-write mapped object.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for each hop.")
def verify_sync(object_name, timeout):
    """Step 5: insert a row, see it in Salesforce, change it there, see it back; names the cause on failure."""
    from core import verify_sync as check

    sys.exit(check.run(object_name, timeout, echo=click.echo))


def main():
    """Run the CLI, turning configuration errors into one clear line and exit code 2."""
    with config.exit_on_error():
        cli(standalone_mode=True)


if __name__ == "__main__":
    main()
