"""Writes as Salesforce takes them: single records, sObject Collections, composite requests and sObject Trees.

Driven through simple-salesforce (1.12 has no composite wrapper: `restful` reaches composite and
tree) and plain HTTP where a client sends what simple-salesforce cannot, asserting the shapes and
error codes Salesforce answers with.
"""

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

NOT_THERE = "001000000000999AAA"  # an Account Id no record has


@pytest.fixture
def account(sf):
    return sf.Account.create({"Name": "Acme Corp"})["id"]


@pytest.fixture
def contact(sf, account):
    return sf.Contact.create({"LastName": "Lovelace", "AccountId": account, "External_ID__c": "c-1"})["id"]


def http(local_org, sf, method, path, **kwargs):
    """A plain HTTP call with the session, for what simple-salesforce cannot send."""
    return requests.request(method, f"{local_org.url}/services/data/v59.0/{path}",
                            headers={"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"},
                            **kwargs)


def error_of(raised) -> dict:
    """The one error of a REST error answer (a JSON list of {message, errorCode, fields})."""
    (error,) = raised.value.content
    return error


def api_requests_left(sf) -> int:
    return sf.limits()["DailyApiRequests"]["Remaining"]


def composite(sf, subrequests, all_or_none=False):
    return sf.restful("composite", method="POST", json={"allOrNone": all_or_none, "compositeRequest": subrequests})


def order_with_items(sf, account, quantity=2):
    product = sf.Product2.create({"Name": "Widget"})["id"]
    order = sf.Order.create({"AccountId": account, "Status": "Draft", "EffectiveDate": "2024-05-01"})["id"]
    items = [sf.OrderItem.create({"OrderId": order, "Product2Id": product, "Quantity": 1, "UnitPrice": 9.5})["id"]
             for _ in range(quantity)]
    return order, items


# ---- single records -------------------------------------------------------------------------------

def test_case_numbers_are_eight_digits_counting_up(sf, account):
    first = sf.Case.get(sf.Case.create({"Subject": "Box crushed", "AccountId": account})["id"])["CaseNumber"]
    assert len(first) == 8 and first.isdigit() and first != "00000000"
    loaded = sf.Case.get(sf.Case.create({"Subject": "Late", "AccountId": account})["id"])["CaseNumber"]
    assert int(loaded) == int(first) + 1


def test_field_names_in_any_case_are_the_fields_they_name(sf, account):
    created = sf.Contact.create({"lastname": "Hopper", "FIRSTNAME": "Grace", "accountid": account})["id"]
    assert sf.Contact.update(created, {"mailingcity": "Arlington"}) == 204
    record = sf.Contact.get(created)
    assert (record["Name"], record["AccountId"], record["MailingCity"]) == ("Grace Hopper", account, "Arlington")


def test_a_15_character_id_names_the_record_its_18_character_form_does(sf, contact):
    assert sf.Contact.get(contact[:15])["Id"] == contact
    assert sf.Contact.update(contact[:15], {"Phone": "1"}) == 204


def test_get_by_custom_id_and_upsert_by_it(sf, contact):
    assert sf.Contact.get_by_custom_id("External_ID__c", "c-1")["Id"] == contact
    assert sf.Contact.upsert("External_ID__c/c-1", {"phone": "42"}) == 200
    assert sf.Contact.upsert("External_ID__c/c-2", {"LastName": "New"}) == 201
    assert sf.Contact.get_by_custom_id("external_id__c", "c-1")["Phone"] == "42"


def test_a_deleted_record_is_entity_is_deleted_for_get_update_and_delete(sf, contact):
    assert sf.Contact.delete(contact) == 204
    for call in (lambda: sf.Contact.delete(contact), lambda: sf.Contact.update(contact, {"Phone": "1"}),
                 lambda: sf.Contact.get(contact)):
        with pytest.raises(SalesforceResourceNotFound) as gone:
            call()
        assert gone.value.content == [{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]


def test_an_id_no_record_has_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.get(NOT_THERE)
    assert error_of(missing)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.delete(NOT_THERE)
    assert error_of(missing)["errorCode"] == "NOT_FOUND"


def test_a_segment_that_is_no_id_is_taken_for_an_unknown_external_id_field(sf):
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get("not-an-id")
    assert error_of(caught)["errorCode"] == "NOT_FOUND"
    assert error_of(caught)["message"] == "Provided external ID field does not exist or is not accessible: not-an-id"


def test_another_objects_id_is_not_found_to_read_and_malformed_to_write(sf, contact):
    with pytest.raises(SalesforceResourceNotFound) as read:
        sf.Account.get(contact)
    assert error_of(read)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceMalformedRequest) as written:
        sf.Account.update(contact, {"Name": "x"})
    assert error_of(written) == {"errorCode": "MALFORMED_ID", "fields": ["Id"],
                                 "message": f"Account ID: id value of incorrect type: {contact}"}


def test_a_unique_field_refuses_a_value_another_record_holds(sf, contact):
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.Contact.create({"LastName": "Twin", "External_ID__c": "c-1"})
    assert error_of(duplicate) == {"errorCode": "DUPLICATE_VALUE", "fields": [], "message": "duplicate value "
                                   f"found: External_ID__c duplicates value on record with id: {contact}"}
    other = sf.Contact.create({"LastName": "Other", "External_ID__c": "c-2"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as taken:
        sf.Contact.update(other, {"External_ID__c": "c-1"})
    assert error_of(taken)["errorCode"] == "DUPLICATE_VALUE"
    assert sf.Contact.update(contact, {"External_ID__c": "c-1", "Phone": "1"}) == 204  # its own value
    sf.Contact.delete(contact)
    assert sf.Contact.update(other, {"External_ID__c": "c-1"}) == 204  # a deleted record holds no value


@pytest.mark.parametrize("lookup, code", [
    ("contact", "FIELD_INTEGRITY_EXCEPTION"),  # a Contact's Id where an Account's belongs
    (NOT_THERE, "INVALID_CROSS_REFERENCE_KEY"),
    ("001xyz", "MALFORMED_ID"),
])
def test_a_lookup_must_name_a_live_record_of_its_object(sf, contact, lookup, code):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "x", "AccountId": contact if lookup == "contact" else lookup})
    assert error_of(caught)["errorCode"] == code


def test_a_lookup_to_a_deleted_record_is_entity_is_deleted(sf, account):
    sf.Account.delete(account)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "x", "AccountId": account})
    assert error_of(caught) == {"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}


def test_a_lookup_given_as_15_characters_is_stored_as_18(sf, account):
    created = sf.Contact.create({"LastName": "x", "AccountId": account[:15]})["id"]
    assert sf.Contact.get(created)["AccountId"] == account


def test_bodies_salesforce_cannot_read_are_refused_with_its_codes(sf, local_org, contact):
    with pytest.raises(SalesforceMalformedRequest) as readonly:
        sf.Contact.update(contact, {"Name": "computed"})
    assert error_of(readonly)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Contact.create({"LastName": "x", "Nope__c": 1})
    assert error_of(unknown)["errorCode"] == "INVALID_FIELD"
    garbled = http(local_org, sf, "POST", "sobjects/Contact", data="{not json")
    assert garbled.status_code == 400 and garbled.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    with pytest.raises(SalesforceResourceNotFound) as no_object:
        sf.Nothing__c.create({"Name": "x"})
    assert error_of(no_object)["errorCode"] == "NOT_FOUND"


def test_deleting_an_order_deletes_its_order_products(sf, account):
    order, items = order_with_items(sf, account)
    sf.Order.delete(order)
    gone = sf.query_all("SELECT Id FROM OrderItem WHERE IsDeleted = true", include_deleted=True)
    assert sorted(r["Id"] for r in gone["records"]) == sorted(items)


def test_a_required_lookup_refuses_deleting_its_parent(sf, account):
    order_with_items(sf, account, quantity=1)
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.delete(account)
    assert error_of(refused)["errorCode"] == "DELETE_FAILED"
    assert "Acme Corp" in error_of(refused)["message"] and "orders" in error_of(refused)["message"]
    assert sf.Account.get(account)["IsDeleted"] is False


def test_deleting_a_parent_clears_an_optional_lookup_to_it(sf, contact):
    case = sf.Case.create({"Subject": "s", "ContactId": contact})["id"]
    sf.Contact.delete(contact)
    assert sf.Case.get(case)["ContactId"] is None


# ---- sObject Collections ------------------------------------------------------------------------------

def test_collection_updates_take_the_id_in_any_case(sf, local_org, account):
    ids = [r["id"] for r in sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Contact"}, "lastname": n} for n in ("A", "B", "C")]})]
    keys = ("Id", "id", "ID")
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, key: i, "phone": key} for key, i in zip(keys, ids, strict=True)]})
    assert updated == [{"id": i, "success": True, "errors": []} for i in ids]
    assert [sf.Contact.get(i)["Phone"] for i in ids] == ["Id", "id", "ID"]


def test_collection_writes_of_records_not_there_fail_record_by_record(sf, contact, account):
    sf.Contact.delete(contact)
    removed = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{contact},bad-id,{NOT_THERE}"})
    assert [r["errors"][0]["statusCode"] for r in removed] == ["ENTITY_IS_DELETED", "MALFORMED_ID",
                                                               "INVALID_CROSS_REFERENCE_KEY"]
    assert removed[0]["errors"][0]["message"] == "entity is deleted" and not any(r["success"] for r in removed)
    assert removed[1] == {"success": False, "errors": [
        {"statusCode": "MALFORMED_ID", "message": "malformed id bad-id", "fields": []}]}
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "Id": contact, "Phone": "1"},
        {"attributes": {"type": "Contact"}, "Id": account, "Phone": "1"}]})
    assert [r["errors"][0]["statusCode"] for r in updated] == ["ENTITY_IS_DELETED", "MALFORMED_ID"]


def test_a_collection_record_without_a_type_is_refused_as_a_whole(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": [{"LastName": "x"}]})
    assert error_of(caught)["errorCode"] == "INVALID_TYPE"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_a_collection_refuses_a_unique_value_twice_in_one_call(sf):
    created = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Contact"}, "LastName": n, "External_ID__c": "same"} for n in ("A", "B")]})
    assert created[0]["success"] and created[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


def test_collections_retrieve_several_records_in_input_order_with_null_where_none(sf, local_org, account, contact):
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    ids = [contact, account, NOT_THERE, gone, account[:15], "junk"]
    fetched = sf.restful("composite/sobjects/Account", params={"ids": ",".join(ids), "fields": "name,id"})
    assert fetched[0] is None and fetched[2:4] == [None, None] and fetched[5] is None
    assert fetched[1] == fetched[4] == {"attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/"
                                                       f"Account/{account}"}, "Name": "Acme Corp", "Id": account}
    assert list(fetched[1]) == ["attributes", "Name", "Id"]  # the fields in the order asked
    posted = sf.restful("composite/sobjects/Account", method="POST", json={"ids": ids, "fields": ["Name"]})
    assert [r and r["Name"] for r in posted] == [None, "Acme Corp", None, None, "Acme Corp", None]


def test_collections_retrieve_refuses_unknown_fields_and_more_than_2000_ids(sf, account):
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.restful("composite/sobjects/Account", params={"ids": account, "fields": "Nope__c"})
    assert error_of(unknown)["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful("composite/sobjects/Account", method="POST", json={"ids": [account] * 2001, "fields": ["Id"]})
    assert error_of(too_many)["errorCode"] == "EXCEEDED_ID_LIMIT"


# ---- composite ------------------------------------------------------------------------------------

def test_composite_subrequests_refer_to_earlier_results_in_urls_and_bodies(sf):
    answer = composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "newAccount",
         "body": {"Name": "Composite Co"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "newContact",
         "body": {"LastName": "Ref", "AccountId": "@{newAccount.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{newContact.id}?fields=AccountId,LastName",
         "referenceId": "readBack"},
        {"method": "GET", "referenceId": "byQuery",
         "url": "/services/data/v59.0/query/?q=SELECT+Id,Name+FROM+Account+WHERE+Id+=+'@{readBack.AccountId}'"},
        {"method": "PATCH", "url": "/services/data/v59.0/sobjects/Account/@{byQuery.records[0].Id}",
         "referenceId": "rename", "body": {"Name": "@{byQuery.records[0].Name} Renamed"}},
    ])["compositeResponse"]
    assert [a["referenceId"] for a in answer] == ["newAccount", "newContact", "readBack", "byQuery", "rename"]
    assert [a["httpStatusCode"] for a in answer] == [201, 201, 200, 200, 204]
    account = answer[0]["body"]["id"]
    assert answer[0]["body"] == {"id": account, "success": True, "errors": []}
    assert answer[0]["httpHeaders"] == {"Location": f"/services/data/v59.0/sobjects/Account/{account}"}
    assert answer[2]["body"]["AccountId"] == account and answer[4]["body"] is None
    assert sf.Account.get(account)["Name"] == "Composite Co Renamed"


def test_a_composite_request_counts_as_one_api_request(sf):
    before = api_requests_left(sf)
    composite(sf, [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(5)])
    assert api_requests_left(sf) == before - 2  # the composite, and this limits call


def test_composite_all_or_none_undoes_everything_when_one_subrequest_fails(sf):
    answer = composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "good",
         "body": {"Name": "Kept?"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "bad",
         "body": {"FirstName": "No last name", "AccountId": "@{good.id}"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "after",
         "body": {"Name": "Never"}},
    ], all_or_none=True)["compositeResponse"]
    halted = [{"errorCode": "PROCESSING_HALTED",
               "message": "The transaction was rolled back since another operation in the same transaction failed."}]
    assert [a["httpStatusCode"] for a in answer] == [400, 400, 400]
    assert answer[0]["body"] == halted and answer[2]["body"] == halted
    assert answer[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_without_all_or_none_a_reference_to_a_failed_subrequest_halts_only_that_one(sf):
    answer = composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "bad", "body": {}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "orphan",
         "body": {"LastName": "x", "AccountId": "@{bad.id}"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "fine",
         "body": {"Name": "Fine"}},
    ])["compositeResponse"]
    assert [a["httpStatusCode"] for a in answer] == [400, 400, 201]
    assert answer[1]["body"] == [{"errorCode": "PROCESSING_HALTED",
                                  "message": "Invalid reference specified. No value for bad.id found in bad."}]
    assert [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]] == ["Fine"]


def test_composite_all_or_none_applies_to_a_collection_subrequest(sf):
    records = [{"attributes": {"type": "Account"}, "Name": "One"}, {"attributes": {"type": "Account"}}]
    answer = composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/composite/sobjects", "referenceId": "accounts",
         "body": {"allOrNone": False, "records": records}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "contact",
         "body": {"LastName": "x"}},
    ], all_or_none=True)["compositeResponse"]
    assert answer[0]["httpStatusCode"] == 200
    assert [r["errors"][0]["statusCode"] for r in answer[0]["body"]] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                                                         "REQUIRED_FIELD_MISSING"]
    assert answer[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_composite_requests_salesforce_cannot_run_are_refused_whole(sf):
    too_many = [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        composite(sf, too_many)
    assert error_of(caught)["errorCode"] == "LIMIT_EXCEEDED"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        composite(sf, [{"method": "GET", "url": "/services/data/v59.0/limits"}])
    assert error_of(caught) == {"errorCode": "JSON_PARSER_ERROR", "message": "'referenceId' is a required field.",
                                "fields": []}
    with pytest.raises(SalesforceMalformedRequest) as caught:
        composite(sf, [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "same"}] * 2)
    assert error_of(caught)["errorCode"] == "INVALID_INPUT"


def test_a_composite_subrequest_cannot_be_another_composite_request(sf):
    (answer,) = composite(sf, [{"method": "POST", "url": "/services/data/v59.0/composite", "referenceId": "nested",
                                "body": {"compositeRequest": []}}])["compositeResponse"]
    assert answer["httpStatusCode"] == 400 and answer["body"][0]["errorCode"] == "INVALID_INPUT"


# ---- sObject Tree ---------------------------------------------------------------------------------

def test_a_tree_creates_parents_and_children_level_by_level(sf):
    product = sf.Product2.create({"Name": "Widget"})["id"]
    item = {"attributes": {"type": "OrderItem", "referenceId": "item"}, "Product2Id": product, "Quantity": 2,
            "UnitPrice": 5}
    tree = {"records": [
        {"attributes": {"type": "Account", "referenceId": "acme"}, "name": "Acme",
         "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "ada"}, "LastName": "Ada"}]},
         "orders": {"records": [{"attributes": {"type": "Order", "referenceId": "order"}, "Status": "Draft",
                                 "EffectiveDate": "2024-05-01", "OrderItems": {"records": [item]}}]}},
        {"attributes": {"type": "Account", "referenceId": "globex"}, "Name": "Globex"},
    ]}
    answer = sf.restful("composite/tree/Account", method="POST", json=tree)
    assert answer["hasErrors"] is False
    assert [r["referenceId"] for r in answer["results"]] == ["acme", "globex", "ada", "order", "item"]
    ids = {r["referenceId"]: r["id"] for r in answer["results"]}
    assert sf.Contact.get(ids["ada"])["AccountId"] == ids["acme"] == sf.Order.get(ids["order"])["AccountId"]
    assert sf.OrderItem.get(ids["item"])["OrderId"] == ids["order"]


def test_a_tree_with_an_error_saves_nothing_and_names_the_record(sf, local_org):
    tree = {"records": [{"attributes": {"type": "Account", "referenceId": "acme"}, "Name": "Acme",
                         "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "nameless"},
                                                   "FirstName": "No last name"}]}}]}
    answer = http(local_org, sf, "POST", "composite/tree/Account", json=tree)
    assert answer.status_code == 400
    assert answer.json() == {"hasErrors": True, "results": [{"referenceId": "nameless", "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
         "fields": ["LastName"]}]}]}
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_a_tree_refuses_duplicate_and_missing_reference_ids(sf, local_org):
    record = {"attributes": {"type": "Account", "referenceId": "same"}, "Name": "A"}
    duplicated = http(local_org, sf, "POST", "composite/tree/Account", json={"records": [record, record]})
    duplicate = {"statusCode": "INVALID_INPUT", "message": "Duplicate ReferenceId provided in the request.",
                 "fields": []}
    assert duplicated.status_code == 400
    assert duplicated.json()["results"] == [{"referenceId": "same", "errors": [duplicate]}] * 2
    unnamed = http(local_org, sf, "POST", "composite/tree/Account", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "A"}]})
    assert unnamed.status_code == 400 and unnamed.json()[0]["errorCode"] == "INVALID_INPUT"
    too_many = {"records": [{"attributes": {"type": "Account", "referenceId": f"r{i}"}, "Name": "A"}
                            for i in range(201)]}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/tree/Account", method="POST", json=too_many)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0

