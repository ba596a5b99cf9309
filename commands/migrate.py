"""`python manage.py migrate`, `release` and `postdeploy`: the app schema's migrations, on every deploy."""

import click

from core import config, db
from core.migrate import migrate as run_migrations

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


@click.command()
def migrate():
    """Apply pending migrations to the app's own schema (never to Connect's)."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        ran = run_migrations(conn, cfg.app_schema, cfg.connect_schema, log=click.echo)
    click.echo(f"{len(ran)} migration(s) applied; schema {cfg.app_schema} is up to date.")


@click.command()
@click.pass_context
def release(ctx):
    """The release phase: migrate before the new dynos boot (a failure stops the deploy)."""
    ctx.invoke(migrate)


@click.command()
@click.pass_context
def postdeploy(ctx):
    """app.json's postdeploy: migrate the new app's database, then print what is left to do by hand."""
    ctx.invoke(migrate)
    click.echo(NEXT_STEPS.format(schema=config.load().connect_schema))
