"""`python manage.py verify-sync`: setup step 5, the sync tested both ways from both ends."""

import sys
import time

import click

from core import config, salesforce
from core.verify_sync import VerifyFailed, verify


@click.command("verify-sync")
@click.option("--object", "object_name", default="Contact", show_default=True, help="A read-write mapped object.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for each hop.")
def verify_sync(object_name, timeout):
    """Step 5: insert a row, see it in Salesforce, change it there, see it back; names the cause on failure."""
    cfg = config.load()
    click.echo(f"verify-sync: {object_name} through schema {cfg.connect_schema}")
    started = time.monotonic()
    try:
        verify(cfg.database_url, cfg.connect_schema, salesforce_factory=lambda: salesforce.connect(cfg.salesforce),
               object_name=object_name, timeout=timeout, echo=click.echo)
    except VerifyFailed as exc:
        click.echo(f"  FAILED  {exc}")
        sys.exit(1)
    click.echo(f"verify-sync passed in {time.monotonic() - started:.1f} s: Postgres → Salesforce → Postgres works.")
