"""`python manage.py verify-sync`: step 5 of the setup, "test the sync", as a command.

Inserts a test row in a read-write mapped table, waits for the record in the org, updates it in the
org, waits for the change in Postgres, deletes the row and waits for the delete in the org. The same
command runs against the local stand-ins and against a real Heroku Connect + org (the org comes from
the environment, see core/salesforce.py). On failure it names the likely cause.
"""

import time
import uuid

import click
import requests
from psycopg import sql
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from core import config, connect, db, salesforce

# What a test row holds per object: the columns to insert, and the field the org-side update changes.
TEST_ROWS = {
    "Contact": ({"firstname": "verify"}, "LastName"),
    "Case": ({"status": "New", "origin": "Web"}, "Subject"),
}


class VerifyFailed(click.ClickException):
    """A step failed; the message names the likely cause."""

    exit_code = 1


def _mapping(object_name: str) -> connect.Mapping:
    mappings = connect.mappings()
    if object_name not in mappings:
        raise VerifyFailed(f"{object_name} is not mapped (see sql/connect/mapping.json).")
    mapping = mappings[object_name]
    if not mapping.read_write:
        raise VerifyFailed(f"likely cause: mapping read-only — {object_name} is mapped read_only, so Connect never "
                           "sends its rows to Salesforce (the trigger log marks them READONLY). Pick a read-write "
                           "mapping or change the mapping's access.")
    if not mapping.upsert_field:
        raise VerifyFailed(f"likely cause: no upsert field — {object_name} has no upsert_field (an External ID).")
    if object_name not in TEST_ROWS:
        raise VerifyFailed(f"verify-sync knows how to build test rows for {', '.join(TEST_ROWS)} only.")
    return mapping


def _org_call(fn, what):
    """Run one org call, turning errors into a named cause."""
    try:
        return fn()
    except SalesforceAuthenticationFailed as exc:
        raise VerifyFailed(f"likely cause: bad credentials (INVALID_LOGIN) while {what}: {exc.message}") from None
    except SalesforceError as exc:
        text = str(exc.content)
        if "REQUEST_LIMIT_EXCEEDED" in text:
            raise VerifyFailed(f"likely cause: API limit — the org's daily API requests are spent "
                               f"(REQUEST_LIMIT_EXCEEDED) while {what}.") from None
        if exc.status == 401:
            raise VerifyFailed(f"likely cause: bad credentials (401 {text}) while {what}.") from None
        raise VerifyFailed(f"the org refused {what}: {exc.status} {text}") from None
    except requests.exceptions.RequestException as exc:
        raise VerifyFailed(f"the org cannot be reached while {what}: {exc.__class__.__name__}") from None


def _wait(predicate, timeout: float, interval: float = 0.2):
    """Poll predicate() until it returns something truthy or timeout seconds pass; return it or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


LOG_STATE = """
SELECT state, sf_message FROM {log} WHERE table_name = %(table)s AND record_id = %(id)s
UNION ALL
SELECT state, sf_message FROM {archive} WHERE table_name = %(table)s AND record_id = %(id)s
"""


def _push_failure(conn, schema, mapping, record_id, sf, timeout) -> str:
    """Why a row did not reach the org: the trigger log and the row tell."""
    log = conn.execute(sql.SQL(LOG_STATE).format(log=sql.Identifier(schema, "_trigger_log"),
                                                 archive=sql.Identifier(schema, "_trigger_log_archive")),
                       {"table": mapping.table, "id": record_id}).fetchall()
    states = {r["state"] for r in log}
    row = conn.execute(sql.SQL("SELECT _hc_lastop, _hc_err FROM {} WHERE id = %s").format(
        sql.Identifier(schema, mapping.table)), (record_id,)).fetchone()
    if connect.LOG_READONLY in states:
        return "mapping read-only — the trigger log marked the change READONLY: Connect maps this object read-only."
    if row and row["_hc_lastop"] == connect.FAILED:
        return f"Salesforce refused the write (FAILED): {connect.error_message(row['_hc_err'])}"
    if connect.LOG_FAILED in states:
        return f"Salesforce refused the write: {next(r['sf_message'] for r in log if r['state'] == 'FAILED')}"
    try:
        remaining = sf.limits()["DailyApiRequests"]["Remaining"]
        if remaining <= 0:
            return "API limit — the org has no daily API requests left (limits: DailyApiRequests.Remaining = 0)."
    except SalesforceError as exc:
        if "REQUEST_LIMIT_EXCEEDED" in str(exc.content):
            return "API limit — the org's daily API requests are spent (REQUEST_LIMIT_EXCEEDED)."
    if not log:
        return "no trigger-log row: the table has no Connect triggers (is it really a Connect table?)."
    if states <= {connect.LOG_NEW}:
        return (f"Connect paused or not running — the trigger-log row stayed NEW for {timeout:g} s "
                "(`heroku connect:state`; locally: is `python -m standins.connect` running?).")
    return f"still {', '.join(sorted(states))} in the trigger log after {timeout:g} s: Connect is slow or stuck."


def run(object_name="Contact", push_timeout=120.0, pull_timeout=None, echo=click.echo) -> dict:
    """Run every step; return each step's seconds. Raises VerifyFailed naming the likely cause."""
    cfg = config.load()
    mapping = _mapping(object_name)
    pull_timeout = pull_timeout if pull_timeout is not None else mapping.polling_seconds + 60
    extra, name_field = TEST_ROWS[object_name]
    ext_field, ext = mapping.upsert_field, str(uuid.uuid4())
    label = f"verify-sync {ext}"
    timings = {}
    try:
        sf = salesforce.client()
    except salesforce.NoOrgConfigured as exc:
        raise VerifyFailed(str(exc)) from None
    except SalesforceAuthenticationFailed as exc:
        raise VerifyFailed(f"likely cause: bad credentials (INVALID_LOGIN): {exc.message}") from None
    except requests.exceptions.RequestException as exc:
        raise VerifyFailed(f"the org cannot be reached: {exc.__class__.__name__}") from None
    echo(f"verify-sync: {object_name} ↔ {salesforce.describe_target()}, schema {cfg.connect_schema}")
    table = sql.Identifier(cfg.connect_schema, mapping.table)
    soql = (f"SELECT Id, {name_field} FROM {object_name} "  # noqa: S608 (our own uuid, not user input)
            f"WHERE {ext_field} = '{ext}'")

    def step(name, started):
        timings[name] = time.monotonic() - started
        echo(f"  ✓ {name:<44} {timings[name]:6.2f} s")

    with db.connect(cfg.database_url) as conn:
        started = time.monotonic()
        columns = {**extra, connect.column_name(name_field): label, connect.column_name(ext_field): ext}
        record_id = conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            table, sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns))), list(columns.values())).fetchone()["id"]
        step("1. inserted a row in Postgres", started)
        try:
            started = time.monotonic()

            def in_org():
                records = _org_call(lambda: sf.query(soql)["records"], "looking for the record in the org")
                return records[0] if records else None

            record = _wait(in_org, push_timeout)
            if not record:
                raise VerifyFailed("step 2 (Postgres → Salesforce) failed; likely cause: "
                                   + _push_failure(conn, cfg.connect_schema, mapping, record_id, sf, push_timeout))
            step(f"2. record in the org ({record['Id']})", started)

            started = time.monotonic()
            changed = f"{label} (edited in Salesforce)"
            _org_call(lambda: getattr(sf, object_name).update(record["Id"], {name_field: changed}),
                      "updating the record in the org")
            step("3. updated the record in the org", started)

            started = time.monotonic()
            column = sql.Identifier(connect.column_name(name_field))
            seen = _wait(lambda: conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s AND {} = %s").format(
                table, column), (record_id, changed)).fetchone(), pull_timeout, interval=0.5)
            if not seen:
                raise VerifyFailed(f"step 4 (Salesforce → Postgres) failed: the change did not arrive within "
                                   f"{pull_timeout:g} s. Likely cause: Connect paused or not running, or the "
                                   f"mapping polls less often (sf_polling_seconds = {mapping.polling_seconds}).")
            step("4. the org's change arrived in Postgres", started)
        finally:
            started = time.monotonic()
            conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table), (record_id,))
        step("5. deleted the row in Postgres", started)
        started = time.monotonic()
        gone = _wait(lambda: not _org_call(lambda: sf.query(soql)["records"], "checking the delete"), push_timeout)
        if not gone:
            raise VerifyFailed(f"step 6 failed: the record is still in the org after {push_timeout:g} s; likely "
                               "cause: Connect paused or not running.")
        step("6. the record is deleted in the org", started)
    echo(f"verify-sync passed in {sum(timings.values()):.1f} s")
    return timings


@click.command("verify-sync")
@click.option("--object", "object_name", default="Contact", show_default=True, help="A read-write mapped object.")
@click.option("--push-timeout", default=120.0, show_default=True, help="Seconds to wait for Postgres → Salesforce.")
@click.option("--pull-timeout", type=float, default=None,
              help="Seconds to wait for Salesforce → Postgres [default: the mapping's polling interval + 60].")
def command(object_name, push_timeout, pull_timeout):
    """Test the sync both ways with a throwaway row; name the likely cause when it fails."""
    run(object_name, push_timeout, pull_timeout)
