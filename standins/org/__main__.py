"""`python -m standins.org`: the local org on 127.0.0.1:$LOCAL_ORG_PORT (default 5100); and its refusal switches.

On first start it loads every record of the local Connect schema (the demo data) into the org, so
the org and Postgres start in sync, as they would after Connect's initial load.

    python -m standins.org refuse validation --object Contact --field Phone --message "Phones are frozen."
    python -m standins.org refuse lock --times 3      # UNABLE_TO_LOCK_ROW three times, then writes succeed
    python -m standins.org refusals                   # what is switched on
    python -m standins.org allow validation           # switch off (every validation rule; --object for one)

The switches are kept in the org's settings table (standins/org/refusals.py), so a running org
obeys them at once and a restarted one still does. `DATABASE_URL` names the database (with
`make run` going, run these through `python -m standins.run exec python -m standins.org …`).
"""

import logging
import os

import click
from werkzeug.serving import run_simple

from core import config, db, logs
from standins.org import refusals, seed
from standins.org.server import Org, create_org_app


def _schema() -> str:
    return os.environ.get("LOCAL_ORG_SCHEMA", "local_org")


def _org() -> Org:
    return Org(config.load().database_url, _schema())


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx):
    """Serve the local org until stopped (no command), or change its refusal switches."""
    if ctx.invoked_subcommand is None:
        serve()


def serve() -> None:
    """Serve until stopped."""
    logs.setup()
    # One line per request from the polling engine would drown every other log line.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    cfg = config.load()
    port = int(os.environ.get("LOCAL_ORG_PORT", "5100"))
    org = Org(cfg.database_url, _schema(), daily_api_limit=int(os.environ.get("LOCAL_ORG_DAILY_API_LIMIT", "15000")))
    copied = seed.from_connect_schema(org, cfg.connect_schema)
    if copied:
        print(f"local org: loaded {copied:,} records from {cfg.connect_schema}", flush=True)
    print(f"local org: http://127.0.0.1:{port}", flush=True)
    run_simple("127.0.0.1", port, create_org_app(org), threaded=True, use_reloader=False)


def _describe(switch: dict) -> str:
    """One switch on one line: kind, what it refuses, how many times are left, its message."""
    if switch["kind"] in refusals.CALL_KINDS:
        scope = "every API call"
    else:
        scope = ".".join(p for p in (switch["object"], switch["field"]) if p) or "every object"
        if switch.get("contains"):
            scope += f" containing {switch['contains']!r}"
    left = "" if switch["left"] is None else f" ({switch['left']} of {switch['times']} left)"
    message = f": {switch['message']}" if switch["message"] else ""
    return f"{switch['kind']:<12} {scope}{left}{message}"


@cli.command()
@click.argument("kind", type=click.Choice(refusals.KINDS))
@click.option("--object", "obj", help="Only writes of this object (validation, lock, trigger, access).")
@click.option("--field", help="The field a validation rule refuses (validation only).")
@click.option("--message", help="The refusal's message (a trigger's: what it was caused by).")
@click.option("--times", type=int, help="Refuse this many times, then succeed (lock: 1 unless told).")
@click.option("--contains", help="Refuse only values containing this text, any case (validation only).")
def refuse(kind, obj, field, message, times, contains):
    """Switch a refusal on: the org refuses writes (or calls) as a real org would."""
    org = _org()
    with db.connect(org.database_url) as conn:
        try:
            key = refusals.switch_on(conn, org.schema, kind, obj, field, message, times, contains)
        except refusals.SwitchError as exc:
            raise click.UsageError(str(exc)) from None
        switch = next(s for s in refusals.listing(conn, org.schema) if s["key"] == key)
    click.echo("on: " + _describe(switch))


@cli.command()
@click.argument("kind", type=click.Choice(refusals.KINDS))
@click.option("--object", "obj", help="Only this object's switch (default: every switch of the kind).")
@click.option("--field", help="The validation rule's field.")
def allow(kind, obj, field):
    """Switch a refusal off."""
    org = _org()
    with db.connect(org.database_url) as conn:
        try:
            removed = refusals.switch_off(conn, org.schema, kind, obj, field)
        except refusals.SwitchError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"off: {len(removed)} switch(es) of {kind}" if removed else f"no {kind} switch was on")


@cli.command("refusals")
def list_refusals():
    """List the refusal switches that are on."""
    org = _org()
    with db.connect(org.database_url) as conn:
        switches = refusals.listing(conn, org.schema)
    click.echo("\n".join(_describe(s) for s in switches) if switches else "no refusal is switched on")


if __name__ == "__main__":
    with config.exit_on_error():
        cli()
