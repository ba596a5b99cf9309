"""`python manage.py org setup`: give the Salesforce org the custom object and fields the mapping needs."""

import click

from core import config, org_setup, salesforce


@click.group()
def org():
    """The Salesforce org Connect syncs with."""


@org.command("setup")
@click.option("--dry-run", is_flag=True, help="Only list what exists and what would be created.")
def setup(dry_run):
    """Create the custom object and fields the mapping needs (Metadata API); safe to rerun."""
    sf = salesforce.connect(config.load().salesforce)
    created = org_setup.setup(sf, dry_run=dry_run, echo=click.echo)
    if not created:
        click.echo("nothing to create: the org already has everything sql/connect/mapping.json maps.")
        return
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} {len(created)} component(s); the org has everything sql/connect/mapping.json maps.")
