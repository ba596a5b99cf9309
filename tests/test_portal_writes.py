"""Writes back through Connect: cases and contact changes, their sync badges, retries, and bad input."""

import pytest

from core import connect, field_values
from standins.provision import provision
from tests import portal_rows, refusals
from tests.portal_rows import ACCOUNT_A, CONTACT_A, EXT_A, order_sfid

ORDER = order_sfid(ACCOUNT_A, 3)


def _file(client, order=ORDER, **fields):
    data = {"subject": "Box arrived damaged", "description": "The corner was crushed.", "type": "Problem",
            "priority": "High", "csrf_token": portal_rows.csrf(client), **fields}
    return client.post(f"/orders/{order}/cases", data=data)


def _case(conn):
    return conn.execute('SELECT * FROM salesforce."case" WHERE sfid IS NULL').fetchone()


def test_filing_a_case_inserts_it_for_connect(client, ann, conn):
    response = _file(client)
    row = _case(conn)
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{row['external_id__c']}"
    assert (row["contactid"], row["accountid"], row["order__c"]) == (CONTACT_A, ACCOUNT_A, ORDER)
    assert row["contact__external_id__c"] is None
    assert row["status"] == "New" and row["origin"] == "Web" and row["_hc_lastop"] == "PENDING"
    assert len(row["external_id__c"]) == 36
    log = portal_rows.trigger_log(conn, "case")
    assert [(r["state"], r["action"]) for r in log] == [("NEW", "INSERT")]


def test_filed_case_shows_sending_to_salesforce(client, ann, conn):
    page = client.get(_file(client).headers["Location"]).get_data(as_text=True)
    assert "Box arrived damaged" in page and "Sending to Salesforce…" in page
    assert 'data-status-url="/cases/' in page


def test_contact_only_in_postgres_is_named_by_its_external_id(client, conn, portal_world):
    # A contact the app created: no sfid until Connect inserts it into Salesforce.
    conn.execute(
        "INSERT INTO salesforce.contact (accountid, lastname, email, external_id__c) "
        "VALUES (%s, 'New', 'new.person@example.com', 'aaaaaaaa-0000-4000-8000-000000000001')", (ACCOUNT_A,))
    user = portal_rows.make_user(conn, "new.person@example.com")
    assert user["contact_sfid"] is None
    portal_rows.session_for(client, user)
    assert _file(client).status_code == 302
    row = _case(conn)
    assert row["contactid"] is None
    assert row[connect.relationship_column("Contact", "External_ID__c")] == "aaaaaaaa-0000-4000-8000-000000000001"


def test_case_about_another_accounts_order_is_404_and_writes_nothing(client, ann, conn):
    response = _file(client, order=order_sfid(portal_rows.ACCOUNT_B, 1))
    assert response.status_code == 404
    assert _case(conn) is None


def test_case_without_csrf_token_is_refused(client, ann, conn):
    response = client.post(f"/orders/{ORDER}/cases", data={"subject": "x"})
    assert response.status_code == 400 and _case(conn) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subject": ""}, "Subject is required."),
        ({"subject": "   "}, "Subject is required."),
        ({"subject": "x" * 256}, "Subject is too long: at most 255 characters"),
        ({"subject": "bad\x00byte"}, "Subject contains a control character"),
        ({"subject": "line\nbreak"}, "Subject contains a control character"),
        ({"type": "Complaint"}, "Case Type must be one of: Question, Problem, Feature Request."),
        ({"priority": "Urgent"}, "Priority must be one of: High, Medium, Low."),
        ({"description": "d" * 32001}, "Description is too long"),
    ],
)
def test_bad_case_input_is_a_clear_form_error(client, ann, conn, fields, message):
    response = _file(client, **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _case(conn) is None


def test_lone_surrogate_is_refused():
    # A form post cannot carry one (the body is decoded as UTF-8), but JSON's "\\ud800" escape can.
    with pytest.raises(ValueError, match="not valid Unicode"):
        field_values.clean("Case", "Subject", "lone \ud800 surrogate")


def test_description_may_have_line_breaks(client, ann, conn):
    assert _file(client, description="first line\r\nsecond line").status_code == 302
    assert _case(conn)["description"] == "first line\nsecond line"


def test_input_is_normalised_to_nfc(client, ann, conn):
    _file(client, subject="Cafe\u0301 order")
    assert _case(conn)["subject"] == "Caf\u00e9 order"


def test_subject_of_exactly_255_characters_fits(client, ann, conn):
    assert _file(client, subject="é" * 255).status_code == 302


@pytest.mark.parametrize(("lastop", "err", "label"), portal_rows.SYNC_BADGES)
def test_case_badge_follows_hc_lastop(client, ann, conn, as_connect, lastop, err, label):
    key = _file(client).headers["Location"].rsplit("/", 1)[1]
    if lastop == "FAILED":
        refusals.refuse(conn, "case", "REQUIRED_FIELD_MISSING", err=err)
    elif lastop != "PENDING":
        # Connect's own write sets the state it reached.
        with as_connect(conn):
            conn.execute('UPDATE salesforce."case" SET _hc_lastop = %s, _hc_err = %s', (lastop, err))
    assert label in client.get(f"/cases/{key}").get_data(as_text=True)
    assert label in client.get("/cases").get_data(as_text=True)
    status = client.get(f"/cases/{key}/status.json").get_json()
    assert status["label"] == label and status["final"] is (lastop != "PENDING")


def _fail_case(conn):
    refusals.refuse(conn, "case", "boom", err='{"message": "boom"}')


def _send_case_again(client, key):
    return client.post(f"/cases/{key}/retry", data={"csrf_token": portal_rows.csrf(client)})


def test_failed_case_offers_send_again(client, ann, conn):
    key = _file(client).headers["Location"].rsplit("/", 1)[1]
    _fail_case(conn)
    page = client.get(f"/cases/{key}").get_data(as_text=True)
    assert "Could not be saved: boom" in page and "Send again" in page


def test_sending_a_failed_case_again_requeues_its_archived_write(client, ann, conn):
    key = _file(client).headers["Location"].rsplit("/", 1)[1]
    _fail_case(conn)
    assert _send_case_again(client, key).status_code == 302
    assert refusals.archive_states(conn, "case") == ["REQUEUE"]
    assert portal_rows.trigger_log(conn, "case") == []  # the live log is Connect's: it copies the row back
    page = client.get(f"/cases/{key}").get_data(as_text=True)
    assert "Sending to Salesforce…" in page and "Send again" not in page
    assert client.get(f"/cases/{key}/status.json").get_json()["final"] is False


def test_a_case_sent_again_is_not_sent_twice(client, ann, conn):
    key = _file(client).headers["Location"].rsplit("/", 1)[1]
    _fail_case(conn)
    _send_case_again(client, key)
    assert _send_case_again(client, key).status_code == 409
    assert refusals.archive_states(conn, "case") == ["REQUEUE"] and portal_rows.trigger_log(conn, "case") == []


def test_a_failed_case_whose_archived_write_is_gone_is_saved_again(client, ann, conn):
    key = _file(client).headers["Location"].rsplit("/", 1)[1]
    _fail_case(conn)
    refusals.prune_archive(conn)
    before = _case(conn)
    assert _send_case_again(client, key).status_code == 302
    row = _case(conn)
    assert row["_hc_lastop"] == "PENDING" and (row["id"], row["external_id__c"]) == (before["id"], key)
    assert row["subject"] == "Box arrived damaged" and row["contactid"] == CONTACT_A
    log = portal_rows.trigger_log(conn, "case")
    assert [(r["state"], r["action"]) for r in log] == [("IGNORE", "DELETE"), ("NEW", "INSERT")]
    assert '"subject"=>"Box arrived damaged"' in log[-1]["values"]
    assert "Sending to Salesforce…" in client.get(f"/cases/{key}").get_data(as_text=True)


def test_retrying_a_case_that_did_not_fail_is_409(client, ann, conn):
    key = _file(client).headers["Location"].rsplit("/", 1)[1]
    assert client.post(f"/cases/{key}/retry", data={"csrf_token": portal_rows.csrf(client)}).status_code == 409


def _profile(client, **fields):
    data = {"phone": "+1 555 0199", "mailingstreet": "1 Main St", "mailingcity": "Springfield", "mailingstate": "IL",
            "mailingpostalcode": "62701", "mailingcountry": "USA", "csrf_token": portal_rows.csrf(client), **fields}
    return client.post("/profile", data=data)


def _contact(conn):
    return conn.execute("SELECT * FROM salesforce.contact WHERE external_id__c = %s", (EXT_A,)).fetchone()


def test_profile_change_is_written_for_connect(client, ann, conn):
    assert _profile(client).status_code == 302
    row = _contact(conn)
    assert (row["phone"], row["mailingcity"], row["_hc_lastop"]) == ("+1 555 0199", "Springfield", "PENDING")
    log = portal_rows.trigger_log(conn, "contact")
    assert [(r["state"], r["action"], r["sfid"]) for r in log] == [("NEW", "UPDATE", CONTACT_A)]
    assert "Sending to Salesforce…" in client.get("/profile").get_data(as_text=True)


def test_saving_unchanged_profile_writes_nothing(client, ann, conn):
    _profile(client)
    _profile(client)
    assert len(portal_rows.trigger_log(conn, "contact")) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": "5" * 41}, "Business Phone is too long: at most 40 characters"),
        ({"phone": "call me maybe"}, "Business Phone may contain digits"),
        ({"mailingpostalcode": "1" * 21}, "Mailing Zip/Postal Code is too long: at most 20 characters"),
        ({"mailingcity": "Spring\x07field"}, "Mailing City contains a control character"),
        ({"mailingcity": "\ufdd0"}, "Mailing City contains a character that is not allowed"),
    ],
)
def test_bad_profile_input_is_a_clear_form_error(client, ann, conn, fields, message):
    response = _profile(client, **fields)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _contact(conn)["_hc_lastop"] == "SYNCED"


def _send_profile_again(client):
    return client.post("/profile/retry", data={"csrf_token": portal_rows.csrf(client)})


def test_failed_profile_change_can_be_sent_again(client, ann, conn):
    _profile(client)
    refusals.refuse(conn, "contact", "INVALID_PHONE", err="INVALID_PHONE")
    assert "Could not be saved: INVALID_PHONE" in client.get("/profile").get_data(as_text=True)
    assert _send_profile_again(client).status_code == 302
    assert refusals.archive_states(conn, "contact") == ["REQUEUE"]
    assert "Sending to Salesforce…" in client.get("/profile").get_data(as_text=True)
    assert client.get("/profile/status.json").get_json()["final"] is False


def test_a_failed_profile_change_whose_archived_write_is_gone_is_logged_again_by_connects_function(client, ann,
                                                                                                   conn):
    _profile(client)
    refusals.refuse(conn, "contact", "INVALID_PHONE")
    refusals.prune_archive(conn)
    assert _send_profile_again(client).status_code == 302
    row = _contact(conn)
    assert (row["phone"], row["mailingstreet"], row["_hc_lastop"]) == ("+1 555 0199", "1 Main St", "FAILED")
    (entry,) = portal_rows.trigger_log(conn, "contact")
    assert (entry["state"], entry["action"], entry["sfid"]) == ("NEW", "UPDATE", CONTACT_A)
    assert '"phone"=>"+1 555 0199"' in entry["values"] and '"mailingstreet"=>"1 Main St"' in entry["values"]
    assert "Sending to Salesforce…" in client.get("/profile").get_data(as_text=True)


def test_without_the_archived_write_or_connects_function_the_customer_is_asked_to_save_again(client, ann, conn):
    _profile(client)
    refusals.refuse(conn, "contact", "INVALID_PHONE")
    refusals.prune_archive(conn)
    conn.execute("DROP FUNCTION salesforce.hc_capture_update_from_row(hstore, varchar, text[])")
    try:
        response = _send_profile_again(client)
    finally:
        provision(conn, "salesforce", log=lambda *_: None)
    assert response.status_code == 409 and "change the details and save them again" in response.get_data(as_text=True)
    assert portal_rows.trigger_log(conn, "contact") == [] and _contact(conn)["_hc_lastop"] == "FAILED"


def test_no_send_again_for_a_profile_that_did_not_fail(client, ann, conn):
    _profile(client)
    assert _send_profile_again(client).status_code == 409


def test_profile_status_endpoint(client, ann, conn):
    _profile(client)
    assert client.get("/profile/status.json").get_json() == connect.sync_status("PENDING")
