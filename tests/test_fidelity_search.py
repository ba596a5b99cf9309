"""Search answers as Salesforce's does: SOSL through simple-salesforce, parameterizedSearch over plain HTTP."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from standins.org.client import session


@pytest.fixture
def world(sf):
    """Two accounts and their contacts, one deleted contact, and a product; their Ids by name."""
    acme = sf.Account.create({"Name": "Acme Corp", "BillingCity": "London", "Phone": "(415) 555-0100"})["id"]
    globex = sf.Account.create({"Name": "Globex", "BillingCity": "Acme Springs"})["id"]
    ada = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": acme,
                             "Email": "ada@acme.example.com", "MailingCity": "Acmeton"})["id"]
    joan = sf.Contact.create({"FirstName": "Joan", "LastName": "Clarke", "AccountId": globex,
                              "Email": "joan@globex.example.com", "Phone": "+44 20 7946 0958"})["id"]
    gone = sf.Contact.create({"LastName": "Acme-Gone", "AccountId": acme})["id"]
    sf.Contact.delete(gone)
    widget = sf.Product2.create({"Name": "Acme Widget", "ProductCode": "AW-1"})["id"]
    return {"acme": acme, "globex": globex, "ada": ada, "joan": joan, "gone": gone, "widget": widget}


def record(obj, record_id, **fields):
    """A record as search returns it: attributes, then the fields asked for."""
    return {"attributes": {"type": obj, "url": f"/services/data/v59.0/sobjects/{obj}/{record_id}"}, **fields}


def ids(result):
    return [r["Id"] for r in result["searchRecords"]]


def error_of(excinfo):
    (error,) = excinfo.value.content
    return error["errorCode"], error["message"]


def test_sosl_returns_search_records_with_the_fields_each_object_asks_for(sf, world):
    result = sf.search("FIND {Acme} IN ALL FIELDS RETURNING Contact(Id, Name), Account(Id)")
    assert list(result) == ["searchRecords"]
    contacts = [r for r in result["searchRecords"] if r["attributes"]["type"] == "Contact"]
    accounts = [r for r in result["searchRecords"] if r["attributes"]["type"] == "Account"]
    assert result["searchRecords"] == contacts + accounts  # objects in the order RETURNING names them
    assert contacts == [record("Contact", world["ada"], Id=world["ada"], Name="Ada Lovelace")]
    assert [list(c) for c in contacts] == [["attributes", "Id", "Name"]]  # attributes first, then as listed
    assert sorted(accounts, key=lambda a: a["Id"]) == [record("Account", world["acme"], Id=world["acme"]),
                                                       record("Account", world["globex"], Id=world["globex"])]


def test_quick_search_finds_every_searchable_object_by_id_and_never_a_deleted_record(sf, world):
    result = sf.quick_search("Acme")
    assert set(ids(result)) == {world["acme"], world["globex"], world["ada"], world["widget"]}
    assert all(set(r) == {"attributes", "Id"} for r in result["searchRecords"])


def test_terms_match_whole_words_case_insensitively_unless_a_wildcard_says_otherwise(sf, world):
    assert set(ids(sf.search("FIND {acme} RETURNING Contact"))) == {world["ada"]}  # "acme" in ada@acme.example.com
    assert ids(sf.search("FIND {Acmeton} RETURNING Contact")) == [world["ada"]]
    assert ids(sf.search("FIND {Acmet} RETURNING Contact")) == []  # a word is not a prefix of a longer one
    assert ids(sf.search("FIND {Lovel*} RETURNING Contact")) == [world["ada"]]
    assert ids(sf.search("FIND {Jo?n} RETURNING Contact")) == [world["joan"]]
    assert ids(sf.search("FIND {Jo?} RETURNING Contact")) == []  # ? is exactly one character


def test_phrases_and_operators_combine_terms_as_salesforce_evaluates_them(sf, world):
    assert ids(sf.search('FIND {"Acme Corp"} RETURNING Account')) == [world["acme"]]
    assert ids(sf.search('FIND {"Corp Acme"} RETURNING Account')) == []
    assert ids(sf.search("FIND {Acme London} RETURNING Account")) == [world["acme"]]  # side by side: AND
    assert set(ids(sf.search("FIND {Lovelace OR Clarke} RETURNING Contact"))) == {world["ada"], world["joan"]}
    assert ids(sf.search("FIND {Acme AND NOT London} RETURNING Account")) == [world["globex"]]
    assert ids(sf.search("FIND {(Ada OR Joan) AND Clarke} RETURNING Contact")) == [world["joan"]]
    assert ids(sf.search('FIND {"acme.example.com"} RETURNING Contact')) == [world["ada"]]


def test_a_search_group_limits_the_fields_searched(sf, world):
    assert ids(sf.search("FIND {London} IN NAME FIELDS RETURNING Account")) == []
    assert ids(sf.search("FIND {London} IN ALL FIELDS RETURNING Account")) == [world["acme"]]
    assert ids(sf.search("FIND {globex} IN EMAIL FIELDS RETURNING Contact, Account")) == [world["joan"]]
    assert ids(sf.search("FIND {4155550100} IN PHONE FIELDS RETURNING Account")) == [world["acme"]]
    assert ids(sf.search("FIND {Clarke} IN PHONE FIELDS RETURNING Contact")) == []


def test_returning_takes_soql_where_order_by_limit_and_offset(sf, world):
    result = sf.search("FIND {Acme} RETURNING Account(Name, BillingCity WHERE BillingCity != 'London' ORDER BY Name)")
    assert result["searchRecords"] == [record("Account", world["globex"], Name="Globex", BillingCity="Acme Springs")]
    names = [r["Name"] for r in sf.search("FIND {Acme} RETURNING Account(Name ORDER BY Name DESC)")["searchRecords"]]
    assert names == ["Globex", "Acme Corp"]
    limited = sf.search("FIND {Acme} RETURNING Account(Name ORDER BY Name LIMIT 1 OFFSET 1)")["searchRecords"]
    assert [r["Name"] for r in limited] == ["Globex"]


def test_the_overall_limit_caps_the_records_of_all_objects_together(sf, world):
    result = sf.search("FIND {Acme} RETURNING Contact(Id), Account(Id ORDER BY Name), Product2 LIMIT 2")
    assert ids(result) == [world["ada"], world["acme"]]


def test_an_escaped_reserved_character_is_searched_for_an_unescaped_one_refused(sf, world):
    assert ids(sf.search(r"FIND {AW\-1} RETURNING Product2")) == [world["widget"]]
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.search("FIND {AW-1} RETURNING Product2")
    code, message = error_of(excinfo)
    assert code == "MALFORMED_SEARCH" and "ERROR at Row:1:Column:8" in message and "'-'" in message


def test_a_one_character_search_is_refused_as_salesforce_refuses_it(sf, world):
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.quick_search("a*")
    assert error_of(excinfo) == ("INVALID_SEARCH", "search term must be longer than one character: a*")


@pytest.mark.parametrize("search, code", [
    ("FIND Acme", "MALFORMED_SEARCH"),
    ("FIND {Acme", "MALFORMED_SEARCH"),
    ("FIND {Acme} IN ALL TYPE", "MALFORMED_SEARCH"),
    ("FIND {Acme} RETURNING Account(Id", "MALFORMED_SEARCH"),
    ("FIND {Acme} RETURNING Account(Id WHERE Name =)", "MALFORMED_SEARCH"),
    ("FIND {Acme} RETURNING Account WITH SNIPPET", "MALFORMED_SEARCH"),
    ("FIND {Acme AND} RETURNING Account", "MALFORMED_SEARCH"),
    ("FIND {*cme}", "MALFORMED_SEARCH"),
    ("FIND {Acme} RETURNING Opportunity", "INVALID_TYPE"),
    ("FIND {Acme} RETURNING Account(Revenue__c)", "INVALID_FIELD"),
])
def test_searches_outside_the_subset_are_refused_with_salesforces_codes(sf, world, search, code):
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.search(search)
    assert error_of(excinfo)[0] == code


def rest(local_org, sf):
    http = session(local_org.url)
    http.headers["Authorization"] = f"Bearer {sf.session_id}"
    return http, f"https://{sf.sf_instance}/services/data/v59.0/parameterizedSearch/"


def test_parameterized_search_by_get_returns_what_the_parameters_ask_for(local_org, sf, world):
    http, url = rest(local_org, sf)
    answer = http.get(url, params={"q": "Acme", "sobject": "Account", "Account.fields": "Id,Name", "in": "ALL",
                                   "overallLimit": "10"})
    assert answer.status_code == 200
    records = answer.json()["searchRecords"]
    assert {(r["attributes"]["type"], r["Id"], r["Name"]) for r in records} == {
        ("Account", world["acme"], "Acme Corp"), ("Account", world["globex"], "Globex")}
    everywhere = http.get(url, params={"q": "Acme"}).json()
    assert {r["Id"] for r in everywhere["searchRecords"]} == {world["acme"], world["globex"], world["ada"],
                                                              world["widget"]}


def test_parameterized_search_by_get_takes_per_object_where_limit_and_a_default_limit(local_org, sf, world):
    http, url = rest(local_org, sf)
    filtered = http.get(url, params={"q": "Acme", "sobject": ["Account", "Contact"], "fields": "Id",
                                     "Account.where": "BillingCity = 'London'", "defaultLimit": "5"}).json()
    assert [r["Id"] for r in filtered["searchRecords"]] == [world["acme"], world["ada"]]
    one = http.get(url, params={"q": "Acme", "sobject": "Account", "Account.limit": "1"}).json()
    assert len(one["searchRecords"]) == 1


def test_parameterized_search_by_post_takes_sobjects_with_their_own_fields_and_filters(local_org, sf, world):
    http, url = rest(local_org, sf)
    answer = http.post(url, json={
        "q": "Acme", "fields": ["Id"], "in": "NAME", "overallLimit": 100, "defaultLimit": 10,
        "sobjects": [{"name": "Account", "fields": ["Id", "Name"], "where": "Name LIKE 'Acme%'", "limit": 5},
                     {"name": "Product2"}]})
    assert answer.status_code == 200
    assert answer.json()["searchRecords"] == [record("Account", world["acme"], Id=world["acme"], Name="Acme Corp"),
                                              record("Product2", world["widget"], Id=world["widget"])]


@pytest.mark.parametrize("method, request_args, code", [
    ("get", {"params": {"sobject": "Account"}}, "MALFORMED_SEARCH"),
    ("get", {"params": {"q": "x"}}, "INVALID_SEARCH"),
    ("get", {"params": {"q": "Acme", "in": "SOMEWHERE"}}, "MALFORMED_SEARCH"),
    ("get", {"params": {"q": "Acme", "sobject": "Nope__c"}}, "INVALID_TYPE"),
    ("get", {"params": {"q": "Acme", "metadata": "LABELS"}}, "MALFORMED_SEARCH"),
    ("post", {"json": {"q": "Acme", "sobjects": [{"name": "Account", "fields": ["Nope"]}]}}, "INVALID_FIELD"),
    ("post", {"data": "{not json"}, "JSON_PARSER_ERROR"),
])
def test_parameterized_search_refuses_what_it_cannot_answer(local_org, sf, world, method, request_args, code):
    http, url = rest(local_org, sf)
    answer = getattr(http, method)(url, **request_args)
    assert answer.status_code == 400
    (error,) = answer.json()
    assert error["errorCode"] == code and error["message"]
