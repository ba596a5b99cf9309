"""`python manage.py verify-sync`: setup step 5, the sync tested both ways from both ends."""

import sys
import time

import click

from core import config, connect, durations, salesforce
from core.verify_sync import VerifyFailed, verify


def read_write_objects() -> list[str]:
    """The objects of the read-write mappings that take inserts (an upsert field), in the mapping file's order.

    Account is read-write for the churn scores only: the app updates synced accounts and never inserts
    one, so it has no upsert field and no insert to test (docs/scoring.md, "Write-back through Connect").
    """
    return [name for name, m in connect.mappings().items() if m.read_write and m.upsert_field]


@click.command("verify-sync")
@click.option("--object", "object_names", multiple=True,
              help="A read-write mapped object (repeatable); default: every read-write mapping with an upsert field.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for each hop.")
def verify_sync(object_names, timeout):
    """Step 5: insert a row, see it in Salesforce, change it there, see it back; names the cause on failure."""
    cfg = config.load()
    failed = []
    for object_name in object_names or read_write_objects():
        click.echo(f"verify-sync: {object_name} through schema {cfg.connect_schema}")
        started = time.monotonic()
        try:
            verify(cfg.database_url, cfg.connect_schema, salesforce_factory=lambda: salesforce.connect(cfg.salesforce),
                   object_name=object_name, timeout=timeout, echo=click.echo)
        except VerifyFailed as exc:
            click.echo(f"  FAILED  {exc}")
            failed.append(object_name)
            continue
        click.echo(f"verify-sync passed for {object_name} in {durations.human(time.monotonic() - started)}: "
                   "Postgres → Salesforce → Postgres works.")
    if failed:
        click.echo(f"verify-sync FAILED for {', '.join(failed)}")
        sys.exit(1)
