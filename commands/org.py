"""`python manage.py org setup` and `org seed`: the Salesforce org Connect syncs with, made ready and given data."""

import sys

import click

from core import config, connect, db, logins, org_seed, org_setup, salesforce


@click.group()
def org():
    """The Salesforce org Connect syncs with."""


@org.command("setup")
@click.option("--dry-run", is_flag=True, help="Only list what exists, differs and would be created.")
@click.option("--yes", is_flag=True, help="Update components that differ from sql/connect/objects.json without "
                                          "asking.")
def setup(dry_run, yes):
    """Create the custom object and fields the mapping needs, and bring differing ones in line (Metadata API)."""
    sf = salesforce.connect(config.load().salesforce)

    def confirm(differing):
        if yes:
            return True
        if sys.stdin.isatty():
            return click.confirm(f"Update {len(differing)} component(s) to match sql/connect/objects.json?")
        return False

    changes = org_setup.setup(sf, dry_run=dry_run, confirm=confirm, echo=click.echo)
    verb = "would create" if dry_run else "created"
    if changes.created:
        click.echo(f"{verb} {len(changes.created)} component(s).")
    if changes.updated:
        click.echo(f"updated {len(changes.updated)} component(s): {', '.join(changes.updated)}.")
    elif changes.differing and dry_run:
        click.echo(f"{len(changes.differing)} component(s) differ from sql/connect/objects.json (--yes updates them).")
    elif changes.differing:
        click.echo(f"{len(changes.differing)} component(s) differ from sql/connect/objects.json and were not "
                   "updated: rerun with --yes to update them.")
        sys.exit(1)
    if not changes.created and not changes.updated and not changes.differing:
        click.echo("nothing to create: the org already has everything sql/connect/mapping.json maps.")
    elif not dry_run:
        click.echo("the org has everything sql/connect/mapping.json maps.")


@org.command("seed")
@click.option("--dry-run", is_flag=True, help="Only show what exists and what would be created.")
@click.option("--invite", is_flag=True, help="Invite each seeded account's first contact to the portal (once "
                                             "Connect has synced them to Postgres).")
def seed(dry_run, invite):
    """Load a small demo data set into the org (Bulk API 2.0); a rerun creates nothing new."""
    cfg = config.load()
    sf = salesforce.connect(cfg.salesforce)
    try:
        result, rows = org_seed.seed(sf, dry_run=dry_run, echo=click.echo)
    except org_seed.SeedRefused as exc:
        click.echo(f"org seed refused: {exc}")
        sys.exit(1)
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} {sum(v for k, v in result.created.items() if k in result.existing)} record(s); the mapped "
               f"objects {'would ' if dry_run else ''}hold {rows:,} of the demo plan's {connect.DEMO_PLAN_ROWS:,} "
               "synced rows.")
    if dry_run:
        return
    if not invite:
        click.echo("Portal invitations: once Connect has synced the contacts (within its polling interval), run\n"
                   "  python manage.py org seed --invite     (each seeded account's first contact)")
        return
    with db.connect(cfg.database_url) as conn:
        waiting = []
        for key in result.contacts:
            try:
                user, token = logins.invite(conn, cfg.connect_schema, cfg.app_schema, key)
            except logins.LoginError:
                waiting.append(key)
                continue
            click.echo(f"  invited {user['email']}: {cfg.public_url().rstrip('/')}/invitation/{token}")
    if waiting:
        click.echo(f"{len(waiting)} contact(s) not in Postgres yet ({', '.join(waiting[:3])}…): Connect has not "
                   "synced them; rerun `python manage.py org seed --invite` after its next poll.")
