"""Every `python manage.py …` command, one module per group: thin click wrappers over core.

They run in the release phase (`release`), in app.json's postdeploy, on Heroku Scheduler and in
one-off dynos (`heroku run python manage.py …`), and on a developer's machine. Like the web and
worker processes they import core/ only: jobs are enqueued by dotted path, never imported.
"""

import click

from commands import connect, doctor, exports, invoices, logins, migrate, org, scores, sync_health, verify_sync


@click.group()
def cli():
    """Heroku Connect reference app: operations commands."""


for command in (
    migrate.migrate,
    migrate.release,
    migrate.postdeploy,
    invoices.invoices,
    scores.scores,
    exports.exports_group,
    logins.invite,
    logins.create_demo_users,
    logins.api_token,
    sync_health.sync_health,
    org.org,
    connect.connect_group,
    verify_sync.verify_sync,
    doctor.doctor,
):
    cli.add_command(command)
