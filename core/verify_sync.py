"""Step 5 of the setup — test the sync both ways, from both ends (`python manage.py verify-sync`).

0. check the org answers and has API requests left today;
1. insert a row in a read-write mapped table (as the app would), built from the org's describe of the
   object: its upsert field carries a marker, a text field a recognisable name, and every required
   field a value (a picklist's default or first active value, an existing parent for a lookup);
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
from datetime import date

import requests
from psycopg import sql
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from core import connect, db, durations, trigger_log

# verify-sync's own REST calls count toward the limit; Connect's SOAP calls do not (docs/batch-invoicing.md).
LIMIT_REACHED = "the org's daily API request limit is reached (REST clients' calls count toward it)"


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


INSERT_ROW = "INSERT INTO {} ({}) VALUES ({}) RETURNING id"
# Field names that read as a record's name, in the order a test record's text is put in the first found.
_NAME_FIELDS = ("LastName", "Name", "Subject")
_TEXT_TYPES = ("string", "textarea")


@dataclass
class SampleRecord:
    """What verify-sync inserts: the column values, and the text field it renames in Salesforce."""

    values: dict  # column → value
    text_field: str  # the field renamed in Salesforce (API name)
    name: str
    renamed: str


def _describe_fields(sf, object_name) -> dict:
    """The object's fields as the org describes them, by name."""
    return {f["name"]: f for f in _api(lambda: getattr(sf, object_name).describe())["fields"]}


def _text_field(mapping, fields) -> str:
    """The mapped text field to name the test record by: a name-like one, else any writable text field."""
    writable = [n for n in mapping.fields if n in fields and fields[n]["type"] in _TEXT_TYPES
                and fields[n]["createable"] and fields[n]["updateable"] and n != mapping.upsert_field]
    for name in (*_NAME_FIELDS, *writable):
        if name in writable:
            return name
    raise VerifyFailed(f"the {mapping.object_name} mapping has no text field verify-sync can write and change")


def _required_value(sf, object_name, f):
    """A valid value for a required field: a picklist's default (or first active) value, an existing parent, …"""
    kind = f["type"]
    if kind in ("picklist", "multipicklist"):
        active = [p for p in f["picklistValues"] if p.get("active", True)]
        default = next((p["value"] for p in active if p.get("defaultValue")), None)
        if default or active:
            return default or active[0]["value"]
    if kind == "reference":
        parent = f["referenceTo"][0]
        soql = f"SELECT Id FROM {parent} ORDER BY CreatedDate LIMIT 1"  # noqa: S608 (SOQL; a describe name)
        found = _api(lambda: sf.query(soql)["records"])
        if not found:
            raise VerifyFailed(f"{object_name}.{f['name']} needs a {parent} and the org has none: create one (or run "
                               "`python manage.py org seed`)")
        return found[0]["Id"]
    if kind == "boolean":
        return False
    if kind in ("double", "currency", "percent", "int"):
        return 1
    if kind == "date":
        return date.today().isoformat()
    if kind in _TEXT_TYPES + ("email", "phone", "url"):
        return "verify-sync@example.com" if kind == "email" else "verify-sync"
    raise VerifyFailed(f"{object_name}.{f['name']} is required and verify-sync cannot make a {kind} value")


def sample_record(sf, mapping, marker: uuid.UUID) -> SampleRecord:
    """The row verify-sync inserts, from the org's describe of the mapped object."""
    fields = _describe_fields(sf, mapping.object_name)
    missing = [n for n in mapping.fields if n not in fields]
    if missing:
        raise VerifyFailed(f"{mapping.object_name} in the org lacks mapped field(s) {', '.join(missing)}: run "
                           "`python manage.py org setup`")
    text = _text_field(mapping, fields)
    limit = fields[text]["length"] or 255
    name = f"verify-sync {marker.hex[:8]}"
    renamed = f"{name} (updated in Salesforce)"[:limit]
    values = {connect.column_name(mapping.upsert_field): str(marker), connect.column_name(text): name}
    for field_name in mapping.fields:
        f = fields[field_name]
        column = connect.column_name(field_name)
        # Required, and set by whoever creates the record: Connect sends what the row holds.
        if column not in values and not f["nillable"] and f["createable"] and f["type"] != "boolean":
            values[column] = _required_value(sf, mapping.object_name, f)
    return SampleRecord(values, text, name, renamed)


def verify(database_url, schema, *, salesforce_factory, object_name="Contact", timeout=60.0,
           echo=print) -> list[Step]:
    """Run the steps; return their timings or raise VerifyFailed naming the cause."""
    mapping = connect.mappings().get(object_name)
    if mapping is None:
        raise VerifyFailed(f"{object_name} is not in the mapping file")
    if not mapping.read_write:
        raise VerifyFailed(f"the {object_name} mapping is read-only: Connect ignores writes from Postgres")
    if not mapping.upsert_field:
        raise VerifyFailed(f"the {object_name} mapping has no upsert field: Connect cannot insert rows safely, so "
                           "verify-sync, which starts with an insert, does not test it (the app only updates its rows)")
    try:
        sf = salesforce_factory()
    except SalesforceAuthenticationFailed as exc:
        raise VerifyFailed(f"bad Salesforce credentials: {exc.message}") from exc
    except requests.RequestException as exc:
        raise VerifyFailed(f"cannot reach Salesforce: {exc}") from exc
    table = sql.Identifier(schema, mapping.table)
    steps = []

    def step(title, fn):
        started = time.monotonic()
        result = fn()
        steps.append(Step(title, time.monotonic() - started))
        echo(f"  ok  {title:<58} {durations.human(steps[-1].seconds):>8}")
        return result

    def budget():
        remaining = _api(sf.limits)["DailyApiRequests"]["Remaining"]
        if remaining <= 0:
            raise VerifyFailed(LIMIT_REACHED)

    step("the org answers and has API requests left today", budget)
    record = step(f"build a test {object_name} from the org's describe",
                  lambda: sample_record(sf, mapping, uuid.uuid4()))
    text, text_column = record.text_field, sql.Identifier(connect.column_name(record.text_field))
    with db.connect(database_url) as conn:
        columns = list(record.values)
        insert = sql.SQL(INSERT_ROW).format(table, sql.SQL(", ").join(map(sql.Identifier, columns)),
                                            sql.SQL(", ").join(sql.Placeholder() * len(columns)))
        record_id = step(f"insert a {object_name} in Postgres ({schema}.{mapping.table})", lambda: conn.execute(
            insert, list(record.values.values())).fetchone()["id"])
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
                lambda: sf.query(_by_id(object_name, sfid, f"Id, {text}"))["records"]))
            if not found or found[0][text] != record.name:
                raise VerifyFailed(f"the record {sfid} is not in the org this command is connected to: is Connect "
                                   "linked to the same org as SF_USERNAME / LOCAL_ORG_URL?")
            step("update it in Salesforce", lambda: _api(lambda: getattr(sf, object_name).update(sfid, {
                text: record.renamed})))
            try:
                step("the change reached Postgres", lambda: _wait("pull", lambda: conn.execute(
                    sql.SQL("SELECT 1 FROM {} WHERE id = %s AND {} = %s").format(table, text_column),
                    (record_id, record.renamed)).fetchone(), timeout))
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
            raise VerifyFailed(LIMIT_REACHED) from exc
        raise VerifyFailed(f"Salesforce answered {exc.status}: {content}") from exc
    except requests.RequestException as exc:
        raise VerifyFailed(f"cannot reach Salesforce: {exc}") from exc

