"""The local org's refusal switches: writes and calls refused as real orgs refuse them, on every API, until off.

Each kind (standins/org/refusals.py) through each API's error shape, what the local Connect records
for it (the trigger log's `sf_message`, the row's `_hc_err`, or the change kept queued), that a
switch outlives the org's process, the HTML view's buttons, the command — and the journey a new
user takes: a validation rule on Contact.Phone, a profile edit the portal says could not be saved,
the rule switched off, "Send again", "Saved".
"""

import csv
import io
import json
import re

import pytest
import requests
from click.testing import CliRunner
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from core import db
from standins.connect.engine import OrgUnavailable
from standins.org import refusals, seed
from standins.org.__main__ import cli
from standins.org.server import Org, create_org_app
from tests import portal_rows
from tests.portal_rows import CONTACT_A

API = "/services/data/v59.0"


@pytest.fixture
def switch(local_org):
    """`switch(kind, obj=None, field=None, message=None, times=None)`: turn a refusal on (reset turns it off)."""
    def on(kind, obj=None, field=None, message=None, times=None):
        with db.connect(local_org.org.database_url) as c:
            return refusals.switch_on(c, local_org.org.schema, kind, obj, field, message, times)
    return on


@pytest.fixture
def off(local_org):
    """`off(kind)`: switch every refusal of a kind off."""
    def turn(kind):
        with db.connect(local_org.org.database_url) as c:
            refusals.switch_off(c, local_org.org.schema, kind)
    return turn


@pytest.fixture
def contact(sf):
    return sf.Contact.create({"LastName": "Lovelace"})["id"]


def _refusal(call):
    """The first error of a refused simple-salesforce call: (status, errorCode, message, fields)."""
    with pytest.raises((SalesforceMalformedRequest, SalesforceRefusedRequest, SalesforceGeneralError)) as refused:
        call()
    error = refused.value.content[0]
    return refused.value.status, error["errorCode"], error["message"], error.get("fields")


# ---- each kind, through single-record REST --------------------------------------------------------

def test_a_validation_rule_refuses_writes_that_set_its_field_with_its_message(sf, switch, contact):
    switch("validation", "contact", "phone", "Phone numbers are frozen.")
    assert _refusal(lambda: sf.Contact.update(contact, {"Phone": "+1 555 0100"})) == (
        400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone numbers are frozen.", ["Phone"])
    assert _refusal(lambda: sf.Contact.create({"LastName": "New", "Phone": "1"}))[1] == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert sf.Contact.update(contact, {"MailingCity": "Lima"}) == 204  # other fields are written as ever
    assert sf.Account.create({"Name": "Acme", "Phone": "1"})["success"]  # and other objects' phones


def test_unable_to_lock_row_refuses_once_then_the_same_write_succeeds(sf, switch, contact):
    switch("lock", "Contact")
    status, code, message, fields = _refusal(lambda: sf.Contact.update(contact, {"Phone": "1"}))
    assert (status, code, fields) == (400, "UNABLE_TO_LOCK_ROW", [])
    assert message == f"unable to obtain exclusive access to this record or 1 records: {contact}"
    assert sf.Contact.update(contact, {"Phone": "1"}) == 204


def test_unable_to_lock_row_can_refuse_several_times_and_counts_what_is_left(sf, local_org, switch, contact):
    switch("lock", times=2)
    for _ in range(2):
        assert _refusal(lambda: sf.Contact.update(contact, {"Phone": "1"}))[1] == "UNABLE_TO_LOCK_ROW"
    with db.connect(local_org.org.database_url) as c:
        [listed] = refusals.listing(c, "local_org")
    assert (listed["times"], listed["left"]) == (2, 0)
    assert sf.Contact.update(contact, {"Phone": "1"}) == 204


def test_a_trigger_error_is_worded_as_apex_words_it_for_each_operation(sf, switch, contact):
    switch("trigger", "Contact", message="System.DmlException: Update failed.")
    status, code, message, _ = _refusal(lambda: sf.Contact.update(contact, {"Phone": "1"}))
    assert (status, code) == (400, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY")
    assert message == ("ContactTrigger: execution of BeforeUpdate\n\ncaused by: System.DmlException: Update failed."
                       "\n\nTrigger.ContactTrigger: line 1, column 1")
    assert "execution of BeforeInsert" in _refusal(lambda: sf.Contact.create({"LastName": "New"}))[2]
    assert "execution of BeforeDelete" in _refusal(lambda: sf.Contact.delete(contact))[2]
    assert sf.Account.create({"Name": "Acme"})["success"]  # a trigger on Contact leaves Accounts alone


def test_insufficient_access_names_the_record_the_write_refers_to(sf, switch):
    account = sf.Account.create({"Name": "Acme"})["id"]
    switch("access", "Contact")
    assert _refusal(lambda: sf.Contact.create({"LastName": "New", "AccountId": account})) == (
        400, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        f"insufficient access rights on cross-reference id: {account}", [])


def test_the_request_limit_refuses_every_counted_call_with_403(sf, local_org, switch, off, org_session):
    switch("limit")
    assert _refusal(lambda: sf.query("SELECT Id FROM Contact")) == (
        403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", [])
    bulk = org_session.get(f"{local_org.url}/services/async/59.0/job/750000000000001AAA",
                           headers={"X-SFDC-Session": sf.session_id, "Accept": "application/json"})
    assert (bulk.status_code, bulk.json()) == (400, {"exceptionCode": "ExceededQuota",
                                                     "exceptionMessage": "TotalRequests Limit exceeded."})
    bad_session = requests.get(f"{local_org.url}{API}/limits/", headers={"Authorization": "Bearer nope"})
    assert bad_session.status_code == 401  # the session is checked first, as with the real limit
    assert local_org.salesforce().session_id  # logging in is not an API request: it still works
    off("limit")
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0


def test_maintenance_answers_503_server_unavailable_on_every_api(sf, local_org, switch, off, org_session):
    switch("maintenance")
    status, code, message, _ = _refusal(lambda: sf.query("SELECT Id FROM Contact"))
    assert (status, code) == (503, "SERVER_UNAVAILABLE") and "maintenance" in message
    with pytest.raises(SalesforceAuthenticationFailed) as login:
        local_org.salesforce()
    assert login.value.code == "SERVER_UNAVAILABLE"
    bulk = org_session.get(f"{local_org.url}/services/async/59.0/job/750000000000001AAA",
                           headers={"X-SFDC-Session": sf.session_id, "Accept": "application/json"})
    assert bulk.status_code == 503 and bulk.json()["exceptionCode"] == "Unknown"
    metadata = requests.post(f"{local_org.url}/services/Soap/m/59.0", data="<x/>", headers={"SOAPAction": '""'})
    assert metadata.status_code == 503 and "<faultcode>sf:SERVER_UNAVAILABLE</faultcode>" in metadata.text
    assert requests.get(local_org.url + "/").status_code == 200  # the HTML view stays up to switch it off
    off("maintenance")
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0


# ---- the same refusal, in each API's shape --------------------------------------------------------

def test_collections_refuse_each_record_on_its_own_with_status_code(sf, switch, org_session, local_org, contact):
    other = sf.Contact.create({"LastName": "Hopper"})["id"]
    switch("validation", "Contact", "Phone", "Phone numbers are frozen.")
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "Id": contact, "Phone": "1"},
        {"attributes": {"type": "Contact"}, "Id": other, "MailingCity": "Lima"}]}
    answer = org_session.patch(f"{local_org.url}{API}/composite/sobjects", json=body)
    assert answer.status_code == 200
    refused, saved = answer.json()
    assert refused == {"success": False, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                                     "message": "Phone numbers are frozen.", "fields": ["Phone"]}]}
    assert saved["success"] is True


def test_a_composite_subrequest_is_refused_with_the_rest_error_body(switch, org_session, local_org, contact):
    switch("trigger", "Contact")
    answer = org_session.post(f"{local_org.url}{API}/composite", json={"compositeRequest": [
        {"method": "PATCH", "url": f"{API}/sobjects/Contact/{contact}", "referenceId": "c", "body": {"Phone": "1"}}]})
    [sub] = answer.json()["compositeResponse"]
    assert sub["httpStatusCode"] == 400
    assert sub["body"][0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert sub["body"][0]["message"].startswith("ContactTrigger: execution of BeforeUpdate")


def test_a_tree_saves_nothing_and_names_the_refused_record(switch, org_session, local_org):
    switch("validation", "Contact", "Phone", "Phone numbers are frozen.")
    answer = org_session.post(f"{local_org.url}{API}/composite/tree/Contact", json={"records": [
        {"attributes": {"type": "Contact", "referenceId": "ada"}, "LastName": "Lovelace", "Phone": "1"}]})
    assert answer.status_code == 400 and answer.json()["hasErrors"] is True
    [result] = answer.json()["results"]
    assert result["referenceId"] == "ada" and result["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_bulk2_hard_delete_is_refused_by_a_trigger_too(sf, switch, contact):
    switch("trigger", "Contact")
    [result] = sf.bulk2.Contact.hard_delete(records=[{"Id": contact}], wait=0)
    assert result["numberRecordsFailed"] == 1
    _, failed = csv.reader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"])))
    assert failed[1].startswith("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY:ContactTrigger: execution of BeforeDelete")


def test_bulk2_failed_results_carry_the_refusal(sf, switch, contact):
    switch("validation", "Contact", "Phone", "Phone numbers are frozen.")
    [result] = sf.bulk2.Contact.update(records=[{"Id": contact, "Phone": "1"}], wait=0)
    assert result["numberRecordsFailed"] == 1
    header, failed = csv.reader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"])))
    assert header[:2] == ["sf__Id", "sf__Error"]
    assert failed[1] == "FIELD_CUSTOM_VALIDATION_EXCEPTION:Phone numbers are frozen.:Phone --"


def test_bulk1_results_carry_the_refusal(sf, switch, contact):
    switch("access", "Contact")
    [result] = sf.bulk.Contact.update([{"Id": contact, "Phone": "1"}])
    assert result["success"] is False
    assert result["errors"][0]["statusCode"] == "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
    assert result["errors"][0]["message"] == f"insufficient access rights on cross-reference id: {contact}"


def test_an_edit_in_the_html_view_is_refused_as_well(switch, local_org, contact):
    switch("validation", "Contact", "Phone", "Phone numbers are frozen.")
    http = requests.Session()
    page = http.get(f"{local_org.url}/o/Contact/{contact}").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    answer = http.post(f"{local_org.url}/o/Contact/{contact}", data={"csrf": token, "LastName": "Lovelace",
                                                                      "Phone": "1"})
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone numbers are frozen." in answer.text


# ---- persistence, the HTML view, the command ------------------------------------------------------

def test_a_switch_outlives_the_orgs_process(local_org, switch, sf, contact):
    switch("validation", "Contact", "Phone", "Phone numbers are frozen.")
    restarted = create_org_app(Org(local_org.org.database_url, "local_org")).test_client()
    answer = restarted.patch(f"{API}/sobjects/Contact/{contact}", json={"Phone": "1"},
                             headers={"Authorization": f"Bearer {sf.session_id}"})
    assert answer.status_code == 400 and answer.get_json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def _csrf(page):
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]


def test_the_html_view_lists_switches_and_turns_them_on_and_off(local_org, sf, contact):
    http = requests.Session()
    page = http.get(local_org.url + "/").text
    assert "No refusal is switched on" in page
    form = {"kind": "validation", "object": "Contact", "field": "Phone", "message": "Phones are frozen."}
    assert http.post(local_org.url + "/refusals", data=form).status_code == 400  # no CSRF token: refused
    answer = http.post(local_org.url + "/refusals", data={**form, "csrf": _csrf(page)})
    assert answer.status_code == 200 and "Contact.Phone" in answer.text and "Phones are frozen." in answer.text
    assert _refusal(lambda: sf.Contact.update(contact, {"Phone": "1"}))[2] == "Phones are frozen."
    key = re.search(r'name="key" value="([^"]+)"', answer.text)[1]
    answer = http.post(local_org.url + "/refusals/off", data={"key": key, "csrf": _csrf(answer.text)})
    assert "No refusal is switched on" in answer.text
    assert sf.Contact.update(contact, {"Phone": "1"}) == 204


def test_the_html_view_says_why_a_switch_cannot_be(local_org):
    http = requests.Session()
    token = _csrf(http.get(local_org.url + "/").text)
    answer = http.post(local_org.url + "/refusals", data={"kind": "validation", "object": "Contact", "csrf": token})
    assert answer.status_code == 400 and "a validation rule needs --object and --field" in answer.text


def test_the_command_switches_refusals_on_lists_them_and_switches_them_off(env, local_org, sf, contact):
    runner = CliRunner()
    on = runner.invoke(cli, ["refuse", "validation", "--object", "Contact", "--field", "Phone",
                             "--message", "Phones are frozen."])
    assert on.exit_code == 0 and "Contact.Phone" in on.output
    assert runner.invoke(cli, ["refuse", "lock", "--times", "3"]).exit_code == 0
    listed = runner.invoke(cli, ["refusals"]).output
    assert "validation" in listed and "Phones are frozen." in listed and "3 of 3 left" in listed
    assert _refusal(lambda: sf.Contact.update(contact, {"Phone": "1"}))[1] == "UNABLE_TO_LOCK_ROW"
    assert runner.invoke(cli, ["allow", "lock"]).exit_code == 0
    assert _refusal(lambda: sf.Contact.update(contact, {"Phone": "1"}))[2] == "Phones are frozen."
    assert runner.invoke(cli, ["allow", "validation"]).output.startswith("off: 1")
    assert runner.invoke(cli, ["refusals"]).output.strip() == "no refusal is switched on"
    wrong = runner.invoke(cli, ["refuse", "validation", "--object", "Contact"])
    assert wrong.exit_code == 2 and "needs --object and --field" in wrong.output


# ---- what the local Connect records for each ------------------------------------------------------

@pytest.fixture
def synced(portal_world, local_org, engine):
    """The portal's rows in Postgres and, with the same Ids, in the local org."""
    seed.from_connect_schema(local_org.org)
    return local_org


def _change_phone(conn, phone="+1 555 0142"):
    conn.execute("UPDATE salesforce.contact SET phone = %s WHERE sfid = %s", (phone, CONTACT_A))


def _log(conn):
    """The contact's trigger-log rows, live and archived, oldest first: (state, sf_message)."""
    return [(r["state"], r["sf_message"]) for r in conn.execute(
        "SELECT state, sf_message FROM salesforce._trigger_log WHERE table_name = 'contact' UNION ALL "
        "SELECT state, sf_message FROM salesforce._trigger_log_archive WHERE table_name = 'contact' ORDER BY 1")]


def _row(conn):
    return conn.execute("SELECT _hc_lastop, _hc_err FROM salesforce.contact WHERE sfid = %s", (CONTACT_A,)).fetchone()


@pytest.mark.parametrize(("kind", "field", "code", "message"), [
    ("validation", "Phone", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phones are frozen."),
    ("trigger", None, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
     "ContactTrigger: execution of BeforeUpdate\n\ncaused by: Phones are frozen.\n\n"
     "Trigger.ContactTrigger: line 1, column 1"),
    ("access", None, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "Phones are frozen."),
])
def test_a_refused_write_ends_failed_with_the_orgs_code_and_message(conn, synced, engine, switch, kind, field, code,
                                                                     message):
    switch(kind, "Contact", field, "Phones are frozen.")
    _change_phone(conn)
    engine.push_once()
    assert _log(conn) == [("FAILED", f"{code}: {message}")]
    row = _row(conn)
    err = json.loads(row["_hc_err"])
    assert row["_hc_lastop"] == "FAILED" and err["src"] == "SFDC" and err["op"] == "UPDATE"
    assert err["msg"] == message and err["errors"][0]["statusCode"] == code


def test_a_locked_row_keeps_the_change_queued_and_the_next_push_saves_it(conn, synced, engine, switch):
    switch("lock", "Contact")
    _change_phone(conn)
    with pytest.raises(OrgUnavailable, match="UNABLE_TO_LOCK_ROW"):
        engine.push_once()
    assert _log(conn) == [("NEW", None)] and _row(conn)["_hc_lastop"] == "PENDING"
    engine.push_once()
    assert _log(conn) == [("SUCCESS", None)] and _row(conn)["_hc_lastop"] == "UPDATED"
    assert synced.salesforce().Contact.get(CONTACT_A)["Phone"] == "+1 555 0142"


@pytest.mark.parametrize("kind", ["limit", "maintenance"])
def test_a_limit_or_an_outage_keeps_the_change_queued_until_it_ends(conn, synced, engine, switch, off, kind):
    assert engine.sf  # logged in before the switch (a login refused by the outage would keep it queued too)
    switch(kind)
    _change_phone(conn)
    with pytest.raises(OrgUnavailable):
        engine.push_once()
    assert _log(conn) == [("NEW", None)] and _row(conn)["_hc_lastop"] == "PENDING"
    off(kind)
    engine.push_once()
    assert _log(conn) == [("SUCCESS", None)] and _row(conn)["_hc_lastop"] == "UPDATED"


# ---- the journey a new user takes -----------------------------------------------------------------

def test_a_new_user_sees_a_validation_rule_refuse_a_profile_edit_then_sends_it_again(client, ann, conn, synced,
                                                                                       engine):
    org_view = requests.Session()
    token = _csrf(org_view.get(synced.url + "/").text)
    org_view.post(synced.url + "/refusals", data={"kind": "validation", "object": "Contact", "field": "Phone",
                                                   "message": "Phone numbers are frozen during the migration.",
                                                   "csrf": token})
    form = {"phone": "+1 555 0142", "mailingcity": "Springfield", "csrf_token": portal_rows.csrf(client)}
    assert client.post("/profile", data=form).status_code == 302
    assert "Sending to Salesforce…" in client.get("/profile").get_data(as_text=True)
    engine.push_once()
    page = client.get("/profile").get_data(as_text=True)
    assert "Could not be saved: Phone numbers are frozen during the migration." in page and "Send again" in page
    home = org_view.get(synced.url + "/").text
    key = re.search(r'name="key" value="([^"]+)"', home)[1]
    org_view.post(synced.url + "/refusals/off", data={"key": key, "csrf": _csrf(home)})
    assert client.post("/profile/retry", data={"csrf_token": portal_rows.csrf(client)}).status_code == 302
    engine.push_once()
    assert client.get("/profile/status.json").get_json()["label"] == "Saved"
    assert 'class="sync saved slds-badge slds-theme_success"' in client.get("/profile").get_data(as_text=True)
    assert synced.salesforce().Contact.get(CONTACT_A)["Phone"] == "+1 555 0142"
