"""Step 5 of the setup — test the sync both ways, from both ends (`python manage.py verify-sync`).

0. check the org answers and has API requests left today;
1. insert a row in a read-write mapped table (as the app would);
2. wait until Connect has created the record in Salesforce (its sfid comes back; the org is then
   queried directly with simple-salesforce);
3. update the record in Salesforce;
4. wait until the change is in Postgres;
5. clean up: delete the row in Postgres, and wait until Connect has deleted the record.
The same command runs against the local stand-ins and against Heroku Connect with a real org; on
failure it names the likely cause.
"""

import time
import uuid
from dataclasses import dataclass

import requests
from psycopg import sql
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from core import connect, db, trigger_log


class VerifyFailed(Exception):
    """The sync did not work; the message names the likely cause."""


@dataclass
class Step:
    name: str
    seconds: float


def _cause_for_stuck_row(conn, schema, table, record_id) -> str:
    """Why a row has not reached Salesforce, from what Connect left in Postgres."""
    entry = trigger_log.record_entry(conn, schema, table, record_id)
    if entry is None:
        return ("no trigger-log row was written: the table has no Connect triggers (is the mapping set up, and "
                "is CONNECT_SCHEMA right?)")
    if entry["state"] == connect.LOG_READONLY:
        return "the mapping is read-only: Connect ignores writes from Postgres. Make it read-write."
    if entry["state"] == connect.LOG_NEW:
        return ("the change is still waiting in the trigger log: Connect is paused, not running, or cannot reach "
                "Salesforce (check `heroku connect:info`, or that `make run` runs the connect process)")
    if entry["state"] == connect.LOG_FAILED:
        return f"Salesforce refused the write: {entry['sf_message']}"
    return f"the trigger-log row is {entry['state']}"


def _wait(what, check, timeout, poll=0.25):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(poll)


def verify(database_url, schema, *, salesforce_factory, object_name="Contact", timeout=60.0,
           echo=print) -> list[Step]:
    """Run the steps; return their timings or raise VerifyFailed naming the cause."""
    mapping = connect.mappings().get(object_name)
    if mapping is None:
        raise VerifyFailed(f"{object_name} is not in the mapping file")
    if not mapping.read_write:
        raise VerifyFailed(f"the {object_name} mapping is read-only: Connect ignores writes from Postgres")
    if not mapping.upsert_field:
        raise VerifyFailed(f"the {object_name} mapping has no upsert field: Connect cannot insert rows safely")
    try:
        sf = salesforce_factory()
    except SalesforceAuthenticationFailed as exc:
        raise VerifyFailed(f"bad Salesforce credentials: {exc.message}") from exc
    except requests.RequestException as exc:
        raise VerifyFailed(f"cannot reach Salesforce: {exc}") from exc
    table = sql.Identifier(schema, mapping.table)
    marker = uuid.uuid4()
    name, renamed = f"verify-sync {marker.hex[:8]}", f"verify-sync {marker.hex[:8]} (updated in Salesforce)"
    ext_column = connect.column_name(mapping.upsert_field)
    steps = []

    def step(title, fn):
        started = time.monotonic()
        result = fn()
        steps.append(Step(title, time.monotonic() - started))
        echo(f"  ok  {title:<58} {steps[-1].seconds:6.2f} s")
        return result

    def budget():
        remaining = _api(sf.limits)["DailyApiRequests"]["Remaining"]
        if remaining <= 0:
            raise VerifyFailed("the org's daily API request limit is reached (Connect's own traffic counts too)")

    step("the org answers and has API requests left today", budget)
    with db.connect(database_url) as conn:
        record_id = step(f"insert a {object_name} in Postgres ({schema}.{mapping.table})", lambda: conn.execute(
            sql.SQL("INSERT INTO {} (lastname, {}) VALUES (%s, %s) RETURNING id").format(
                table, sql.Identifier(ext_column)), (name, str(marker))).fetchone()["id"])
        sfid = None
        try:
            def arrived():
                row = conn.execute(sql.SQL("SELECT sfid, _hc_lastop, _hc_err FROM {} WHERE id = %s").format(table),
                                   (record_id,)).fetchone()
                if row["_hc_lastop"] == connect.FAILED:
                    raise VerifyFailed(f"Salesforce refused the insert: {connect.error_message(row['_hc_err'])}")
                return row["sfid"]

            try:
                sfid = step("Connect created it in Salesforce (sfid came back)",
                            lambda: _wait("insert", arrived, timeout))
            except TimeoutError:
                raise VerifyFailed(_cause_for_stuck_row(conn, schema, mapping.table, record_id)) from None
            found = step("query it in Salesforce with the API", lambda: _api(
                lambda: sf.query(_by_id(object_name, sfid, "Id, LastName"))["records"]))
            if not found or found[0]["LastName"] != name:
                raise VerifyFailed(f"the record {sfid} is not in the org this command is connected to: is Connect "
                                   "linked to the same org as SF_USERNAME / LOCAL_ORG_URL?")
            step("update it in Salesforce", lambda: _api(lambda: getattr(sf, object_name).update(sfid, {
                "LastName": renamed})))
            try:
                step("the change reached Postgres", lambda: _wait("pull", lambda: conn.execute(
                    sql.SQL("SELECT 1 FROM {} WHERE id = %s AND lastname = %s").format(table),
                    (record_id, renamed)).fetchone(), timeout))
            except TimeoutError:
                raise VerifyFailed("the Salesforce change did not reach Postgres: Connect is not polling this "
                                   f"mapping (paused, or its polling interval — {mapping.polling_seconds} s in the "
                                   "mapping file — is longer than --timeout)") from None
        finally:
            conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table), (record_id,))
        if sfid:
            try:
                step("clean up: deleted in Postgres, then in Salesforce", lambda: _wait("delete", lambda: not _api(
                    lambda: sf.query(_by_id(object_name, sfid, "Id"))["records"]), timeout))
            except TimeoutError:
                _api(lambda: getattr(sf, object_name).delete(sfid))
                echo(f"  !!  Connect did not delete {sfid} in time; deleted it through the API instead")
    return steps


def _by_id(object_name, sfid, fields) -> str:
    """SOQL for one record by Id (an Id has no quotes or backslashes to escape)."""
    return f"SELECT {fields} FROM {object_name} WHERE Id = '{sfid}'"  # noqa: S608 (SOQL, not SQL)


def _api(fn):
    try:
        return fn()
    except SalesforceError as exc:
        content = getattr(exc, "content", None)
        code = content[0].get("errorCode") if isinstance(content, list) and content else None
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise VerifyFailed("the org's daily API request limit is reached (Connect's own traffic counts too)") \
                from exc
        raise VerifyFailed(f"Salesforce answered {exc.status}: {content}") from exc
    except requests.RequestException as exc:
        raise VerifyFailed(f"cannot reach Salesforce: {exc}") from exc

