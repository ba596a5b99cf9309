"""`python manage.py exports …`: CSV exports from a one-off dyno or a terminal, and the cleanup of old files.

    python manage.py exports write orders -o orders.csv     # a progress bar when run in a terminal
    python manage.py exports write account-orders --account 001… -o -
    python manage.py exports cleanup                         # Heroku Scheduler, hourly
"""

import sys

import click

from commands.progress import terminal_progress
from core import config, db, export_files, exports


@click.group("exports")
def exports_group():
    """CSV exports and their stored files."""


@exports_group.command("write")
@click.argument("name", type=click.Choice(sorted(exports.EXPORTS)))
@click.option("--account", "account_sfid", help="The account's Salesforce Id (for account-orders).")
@click.option("-o", "--output", type=click.File("wb"), default="-", show_default=True, help="File to write.")
def write(name, account_sfid, output):
    """Write an export as CSV, straight from COPY (no time limit: this is not a web request)."""
    export = exports.get(name)
    if name == "account-orders" and not account_sfid:
        raise click.UsageError("account-orders needs --account.")
    scope = {"account_sfid": account_sfid} if name == "account-orders" else {}
    cfg = config.load()
    schemas = {"connect_schema": cfg.connect_schema, "app_schema": cfg.app_schema}
    with db.connect(cfg.database_url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        total = exports.count(conn, export, scope, **schemas)
        output.write(export.header_row())
        # The bar goes to the terminal; when the CSV itself goes to stdout, no bar at all.
        with terminal_progress(total, name, enabled=output is not sys.stdout.buffer) as progress:
            after = 0
            while (upto := exports.next_upto(conn, export, scope, after, **schemas)) is not None:
                for piece, rows in exports.copy_chunk(conn, export, scope, after, upto, **schemas):
                    output.write(piece)
                    progress.update(rows)
                after = upto
    click.echo(f"{total} rows exported.", err=True)


@exports_group.command("cleanup")
def cleanup():
    """Delete export files older than EXPORT_TTL_HOURS (downloads of them answer 410 Gone)."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn, conn.transaction():
        deleted = export_files.delete_expired(conn, cfg.app_schema, cfg.export_ttl_hours)
    click.echo(f"{len(deleted)} expired export file(s) deleted.")
