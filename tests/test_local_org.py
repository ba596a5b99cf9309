"""The local org answers simple-salesforce exactly as the project's tools need a real org to answer."""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from core import db
from standins.org import store
from standins.org.client import session
from standins.org.ids import case_safe_suffix
from standins.org.server import Org


@pytest.fixture
def account(sf):
    return sf.Account.create({"Name": "Acme Corp"})["id"]


def test_login_gives_a_session_and_ids_have_salesforce_format(sf, account):
    assert sf.session_id and sf.sf_instance
    assert account.startswith("001") and len(account) == 18
    assert account[15:] == case_safe_suffix(account[:15])


def test_create_get_update_delete_round_trip(sf, account):
    contact = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account,
                                 "Email": "ada@example.com", "External_ID__c": "ext-1"})["id"]
    record = sf.Contact.get(contact)
    assert record["Name"] == "Ada Lovelace" and record["IsDeleted"] is False
    assert record["SystemModstamp"].endswith("+0000")
    before = record["SystemModstamp"]
    assert sf.Contact.update(contact, {"Phone": "+1 555 0100"}) == 204
    after = sf.Contact.get(contact)
    assert after["Phone"] == "+1 555 0100" and after["SystemModstamp"] >= before
    assert sf.Contact.delete(contact) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(contact)


def test_get_by_external_id_and_upsert_both_outcomes(sf, account):
    assert sf.Contact.upsert("External_ID__c/ext 2", {"LastName": "Hopper", "AccountId": account}) == 201
    assert sf.Contact.get_by_custom_id("External_ID__c", "ext 2")["LastName"] == "Hopper"
    assert sf.Contact.upsert("External_ID__c/ext 2", {"FirstName": "Grace"}) == 200
    assert sf.Contact.get_by_custom_id("External_ID__c", "ext 2")["Name"] == "Grace Hopper"


def test_upsert_with_several_matches_is_300(sf, local_org):
    sf.Contact.create({"LastName": "One", "External_ID__c": "dup"})
    with db.connect(local_org.org.database_url) as c:  # a duplicate only a data fix could create
        c.execute("INSERT INTO local_org.records SELECT 'X' || substr(id, 2), object, fields, created_date, "
                  "system_modstamp FROM local_org.records WHERE fields->>'External_ID__c' = 'dup'")
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.upsert("External_ID__c/dup", {"LastName": "Two"})


def test_a_refusal_switch_refuses_writes_of_its_field_until_switched_off(sf, local_org, account):
    contact = sf.Contact.create({"LastName": "Lovelace", "AccountId": account})["id"]
    with db.connect(local_org.org.database_url) as c:
        store.refuse_writes(c, "local_org", "contact", "phone", "Phones are frozen.")
    try:
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.Contact.update(contact, {"Phone": "+1 555 0100"})
        assert refused.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        assert refused.value.content[0]["message"] == "Phones are frozen." and refused.value.content[0]["fields"] == [
            "Phone"]
        assert sf.Contact.update(contact, {"MailingCity": "Lima"}) == 204  # other fields are written as ever
    finally:
        with db.connect(local_org.org.database_url) as c:
            store.accept_writes(c, "local_org", "Contact", "Phone")
    assert sf.Contact.update(contact, {"Phone": "+1 555 0100"}) == 204


def test_describe_comes_from_the_object_definitions(sf):
    described = sf.Invoice__c.describe()
    names = {f["name"]: f for f in described["fields"]}
    assert described["custom"] and names["External_ID__c"]["externalId"] and names["Amount__c"]["type"] == "currency"
    assert {o["name"] for o in sf.describe()["sobjects"]} >= {"Account", "Contact", "Case", "Invoice__c"}


def test_required_field_and_validation_rule_errors_are_salesforce_shaped(sf):
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Contact.create({"FirstName": "No last name"})
    assert missing.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert missing.value.content[0]["fields"] == ["LastName"]
    with pytest.raises(SalesforceMalformedRequest) as rule:
        sf.Case.create({"Origin": "Web"})
    assert rule.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    with pytest.raises(SalesforceMalformedRequest) as too_long:
        sf.Contact.create({"LastName": "x" * 81})
    assert too_long.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    with pytest.raises(SalesforceMalformedRequest) as readonly:
        sf.Contact.create({"LastName": "x", "Name": "computed"})
    assert readonly.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as picklist:
        sf.Case.create({"Subject": "s", "Status": "Maybe"})
    assert picklist.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as dangling:
        sf.Contact.create({"LastName": "x", "AccountId": "001000000000999AAA"})
    assert dangling.value.content[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_query_pages_through_next_records_url(sf, local_org):
    records = [{"attributes": {"type": "Account"}, "Name": f"Account {i:04d}"} for i in range(200)]
    for _ in range(11):
        assert all(r["success"] for r in sf.restful("composite/sobjects", method="POST",
                                                    json={"allOrNone": True, "records": records}))
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Id")
    assert first["totalSize"] == 2200 and not first["done"] and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    everything = sf.query_all("SELECT Id FROM Account ORDER BY Id")
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == 2200 == len(set(ids)) and ids == sorted(ids)


def test_where_clauses_filter_like_soql(sf, account):
    for name, status in [("Alpha", "New"), ("beta", "Working"), ("Gamma", "Closed")]:
        sf.Case.create({"Subject": name, "Status": status, "AccountId": account})
    names = lambda q: sorted(r["Subject"] for r in sf.query_all(q)["records"])  # noqa: E731
    assert names("SELECT Subject FROM Case WHERE Subject = 'BETA'") == ["beta"]  # text compares case-insensitively
    assert names("SELECT Subject FROM Case WHERE Status IN ('New', 'Closed')") == ["Alpha", "Gamma"]
    assert names("SELECT Subject FROM Case WHERE NOT (Status = 'New') AND IsClosed = false") == ["beta"]
    assert names("SELECT Subject FROM Case WHERE Subject LIKE 'a%' OR Status = 'Closed'") == ["Alpha", "Gamma"]
    assert len(sf.query("SELECT Subject FROM Case ORDER BY Subject DESC LIMIT 1 OFFSET 1")["records"]) == 1
    assert sf.query("SELECT COUNT() FROM Case WHERE Status != 'Closed'")["totalSize"] == 2


def test_unknown_field_and_object_and_bad_syntax_are_400(sf):
    for query, code in [("SELECT Nope__c FROM Account", "INVALID_FIELD"), ("SELECT Id FROM Nothing", "INVALID_TYPE"),
                        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
                        ("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01'", "INVALID_FIELD")]:
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query(query)
        assert caught.value.content[0]["errorCode"] == code


def test_query_all_sees_deleted_records_and_deleted_endpoint_lists_them(sf, account):
    doomed = sf.Contact.create({"LastName": "Gone", "AccountId": account})["id"]
    sf.Contact.delete(doomed)
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    found = sf.query_all("SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert [r["Id"] for r in found["records"]] == [doomed]
    now = datetime.now(UTC)
    deleted = sf.Contact.deleted(now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert [d["id"] for d in deleted["deletedRecords"]] == [doomed]
    updated = sf.Account.updated(now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert updated["ids"] == [account]


def test_collections_create_update_upsert_delete(sf, account):
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "A", "AccountId": account},
        {"attributes": {"type": "Contact"}, "FirstName": "no last name"}]})
    assert created[0]["success"] and not created[1]["success"]
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    updated = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "Id": created[0]["id"], "Phone": "1"}]})
    assert updated == [{"id": created[0]["id"], "success": True, "errors": []}]
    upserted = sf.restful("composite/sobjects/Contact/External_ID__c", method="PATCH", json={"allOrNone": False,
                          "records": [{"attributes": {"type": "Contact"}, "External_ID__c": "u1", "LastName": "U"}]})
    assert upserted[0]["created"] is True
    removed = sf.restful("composite/sobjects", method="DELETE", params={"ids": created[0]["id"]})
    assert removed[0]["success"]


def test_collections_all_or_none_rolls_back_the_good_records(sf):
    result = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": "Kept?"}, {"attributes": {"type": "Account"}}]})
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_collections_refuse_more_than_200_records(sf):
    records = [{"attributes": {"type": "Account"}, "Name": str(i)} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_external_id_relationship_resolves_the_parent(sf, account):
    contact = sf.Contact.create({"LastName": "Parent", "External_ID__c": "p-1", "AccountId": account})["id"]
    case = {"attributes": {"type": "Case"}, "Subject": "s"}
    result = sf.restful("composite/sobjects/Case/External_ID__c", method="PATCH", json={"allOrNone": False, "records": [
        {**case, "External_ID__c": "case-1", "Contact": {"External_ID__c": "p-1"}},
        {**case, "External_ID__c": "case-2", "Contact": {"External_ID__c": "no"}},
    ]})
    assert result[0]["success"] and sf.Case.get(result[0]["id"])["ContactId"] == contact
    assert result[1]["errors"][0]["statusCode"] == "INVALID_FIELD"


def test_api_usage_header_limits_and_request_limit_exceeded(sf, local_org):
    sf.query("SELECT Id FROM Account")
    used = sf.api_usage["api-usage"].used
    assert used >= 1 and sf.api_usage["api-usage"].total == 15000
    assert sf.limits()["DailyApiRequests"]["Remaining"] == 15000 - used - 1
    local_org.set_api_limit(100)
    local_org.set_api_usage(100)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    local_org.set_api_usage(0)  # the daily counter resets
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_a_bad_session_is_invalid_session_id(local_org):
    stranger = Salesforce(session_id="00D000000000001EAA!forged.0123456789abcdef0123456789abcdef",
                          instance=local_org.url.split("//")[1], session=session(local_org.url))
    with pytest.raises(SalesforceExpiredSession):
        stranger.query("SELECT Id FROM Account")


def test_records_persist_in_postgres_across_a_new_server(sf, database_url, account):
    again = Org(database_url, "local_org")
    assert again.secret == Org(database_url, "local_org").secret  # sessions survive a restart
    with db.connect(database_url) as c:
        assert c.execute("SELECT count(*) AS n FROM local_org.records WHERE id = %s", (account,)).fetchone()["n"] == 1


def test_html_view_lists_and_edits_records(local_org, sf, account):
    browser = requests.Session()
    browser.trust_env = False
    listing = browser.get(f"{local_org.url}/o/Account", params={"q": "Acme"})
    assert "Acme Corp" in listing.text
    page = browser.get(f"{local_org.url}/o/Account/{account}")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    saved = browser.post(f"{local_org.url}/o/Account/{account}", data={"csrf": token, "Name": "Acme Renamed"})
    assert "Saved." in saved.text and sf.Account.get(account)["Name"] == "Acme Renamed"
    forged = requests.post(f"{local_org.url}/o/Account/{account}", data={"csrf": "x", "Name": "Hacked"})
    assert forged.status_code == 400 and sf.Account.get(account)["Name"] == "Acme Renamed"


def test_unsupported_paths_answer_salesforce_style_errors(sf):
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.restful("no/such/resource")
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"
