"""`python manage.py connect validate`: check a mapping file against the org before `heroku connect:import`."""

import json
import sys
from pathlib import Path

import click

from core import config, connect, connect_validate, db, salesforce


@click.group("connect")
def connect_group():
    """Heroku Connect: the mapping file and the org it maps."""


@connect_group.command("validate")
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=connect.MAPPING_FILE, show_default="sql/connect/mapping.json",
              help="The mapping file to check (the format connect:export writes).")
def validate(mapping_file):
    """Check the mapping file against the org's describe and the database; exit 1 on any problem."""
    cfg = config.load()
    try:
        mappings = connect.parse_mappings(json.loads(mapping_file.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        click.echo(f"{mapping_file}: not a mapping file Connect imports: {exc}")
        sys.exit(1)
    sf = salesforce.connect(cfg.salesforce)
    plan = connect.plan(cfg.connect_plan)  # CONNECT_PLAN: the add-on's plan and its row cap
    with db.connect(cfg.database_url) as conn:
        problems, counts = connect_validate.validate(sf, mappings, conn=conn, app_schema=cfg.app_schema,
                                                     connect_schema=cfg.connect_schema, cap=plan.row_cap)
    for problem in problems:
        click.echo(str(problem))
    against = (f"of the {plan.name} plan's {plan.row_cap:,}" if plan.row_cap is not None
               else f"(the {plan.name} plan: its cap is in your contract)")
    click.echo(f"{sum(counts.values()):,} synced rows {against} ("
               + ", ".join(f"{name} {n:,}" for name, n in counts.items()) + ")")
    if problems:
        click.echo(f"{len(problems)} problem(s): fix them before `heroku connect:import {mapping_file.name}`.")
        sys.exit(1)
    click.echo(f"{mapping_file.name}: {len(mappings)} mapping(s) match the org; ready for `heroku connect:import`.")
