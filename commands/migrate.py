"""`python manage.py migrate`, `release` and `postdeploy`: the app schema's migrations, on every deploy."""

import click

from core import config, db, deploy
from core.migrate import migrate as run_migrations


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
    # What app.json cannot do (the org's OAuth link, Scheduler jobs, APP_URL's random suffix), in order,
    # with this app's name filled in when dyno metadata gives it (core/deploy.py, docs/deploy.md).
    cfg = config.load()
    click.echo(deploy.steps_text(cfg.heroku_app_name, cfg.connect_schema))
