"""simple-salesforce's whole public API against the local org: one test per public method of `Salesforce` and `SFType`.

Each test is named `test_salesforce_<method>` or `test_sftype_<method>`, and the last test fails when
simple-salesforce gains a public method this file does not name. The areas with suites of their own
(SOQL, SOSL, Bulk, the Metadata API, collections) get one call here that works and the documented
shape; layouts, the Tooling API, Apex REST, passwords, files and the replication windows are held
to Salesforce's behaviour here. Plain HTTP checks what simple-salesforce does not expose (headers,
the resources it does not wrap).
"""

import base64
import io
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.api import SFType
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.util import Usage

from core import db
from core.salesforce import loopback_session, metadata
from standins.org import ids, standard
from standins.org.api.common import USER_ID
from standins.org.client import salesforce

MASTER = "012000000000000AAA"
PDF = b"%PDF-1.4\n% a small file\n" + bytes(range(256))


@pytest.fixture
def http(local_org, org_session):
    """Plain HTTP to the org's REST base with the client's session: http("GET", "sobjects/...")."""
    return lambda method, path, **kw: org_session.request(method, f"{local_org.url}/services/data/v59.0/{path}",
                                                          **kw)


@pytest.fixture
def account(sf):
    return sf.Account.create({"Name": "Acme Corp", "Phone": "+1 555 0100"})["id"]


@pytest.fixture
def pdf_file(tmp_path):
    path = tmp_path / "brochure.pdf"
    path.write_bytes(PDF)
    return path


def error_of(caught):
    """(errorCode, message) of the one error a refused call answered."""
    (error,) = caught.value.content
    return error["errorCode"], error["message"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client(local_org, sf, **options) -> Salesforce:
    """Another simple-salesforce client on the same session, built with constructor options."""
    return Salesforce(session_id=sf.session_id, instance_url=local_org.url, session=loopback_session(local_org.url),
                      **options)


def many_accounts(local_org, n):
    """`n` accounts written set-based (as the demo data is), for paging."""
    with db.connect(local_org.org.database_url) as conn:
        ids.create_sql_functions(conn)
        conn.execute("INSERT INTO local_org.records (id, object, fields, created_date, system_modstamp) "
                     "SELECT pg_temp.salesforce_id('001', n), 'Account', "
                     "jsonb_build_object('Name', 'Account ' || lpad(n::text, 5, '0'), 'OwnerId', %s::text), "
                     "now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' FROM generate_series(1, %s) AS n",
                     (USER_ID, n))


# ---- Salesforce ----------------------------------------------------------------------------------------

def test_salesforce_describe(sf):
    described = sf.describe()
    assert described["encoding"] == "UTF-8" and described["maxBatchSize"] == 200
    prefixes = {o["name"]: o["keyPrefix"] for o in described["sobjects"]}
    assert {"ContentVersion": "068", "ContentDocument": "069", "Attachment": "00P"}.items() <= prefixes.items()


def test_salesforce_is_sandbox(sf):
    assert sf.is_sandbox() is False


def new_user(sf, username):
    return sf.User.create({
        "Username": username, "LastName": "Tester", "Email": username, "Alias": "tester",
        "CommunityNickname": username.split("@")[0], "TimeZoneSidKey": "America/Los_Angeles",
        "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
        "ProfileId": standard.PROFILE_ID})["id"]


def login(local_org, username, password):
    return Salesforce(username=username, password=password, security_token="", domain="login",
                      session=loopback_session(local_org.url))


def test_salesforce_set_password(local_org, sf):
    user = new_user(sf, "tess@example.com")
    assert sf.set_password(user, "Sunrise2024") is None  # 204 No Content
    assert sf.restful(f"sobjects/User/{user}/password") == {"isExpired": False}
    assert login(local_org, "tess@example.com", "Sunrise2024").session_id
    with pytest.raises(SalesforceAuthenticationFailed):
        login(local_org, "tess@example.com", "local")  # the old way in no longer works for this user
    assert salesforce(local_org.url).session_id  # others log in as before
    with pytest.raises(SalesforceMalformedRequest) as weak:
        sf.set_password(user, "short1")
    assert error_of(weak) == ("INVALID_NEW_PASSWORD", "Your password must be at least 8 characters long.")
    with pytest.raises(SalesforceMalformedRequest) as letters_only:
        sf.set_password(user, "onlyletters")
    assert error_of(letters_only) == ("INVALID_NEW_PASSWORD", "Your password must have a mix of letters and numbers.")
    with pytest.raises(SalesforceResourceNotFound):
        sf.set_password("005000000009999AAA", "Sunrise2024")


def test_a_reset_password_is_generated_and_expired(local_org, sf):
    user = new_user(sf, "rita@example.com")
    reset = sf.restful(f"sobjects/User/{user}/password", method="DELETE")
    assert set(reset) == {"NewPassword"} and len(reset["NewPassword"]) >= 8
    assert sf.restful(f"sobjects/User/{user}/password") == {"isExpired": True}
    answer = requests.post(f"{local_org.url}/services/Soap/u/59.0", headers={"SOAPAction": "login"}, data=(
        '<?xml version="1.0" encoding="utf-8" ?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body><urn:login><urn:username>rita@example.com'
        f'</urn:username><urn:password>{reset["NewPassword"]}</urn:password></urn:login></soapenv:Body>'
        '</soapenv:Envelope>'))
    assert answer.status_code == 200 and "<passwordExpired>true</passwordExpired>" in answer.text
    sf.set_password(user, "Evening2024")
    assert sf.restful(f"sobjects/User/{user}/password") == {"isExpired": False}


def test_salesforce_restful(sf, account):
    assert sf.restful(f"sobjects/Account/{account}", params={"fields": "Name"})["Name"] == "Acme Corp"
    assert sf.restful(f"sobjects/Account/{account}", method="PATCH", json={"Phone": "+1 555 0199"}) is None  # 204
    assert sf.Account.get(account)["Phone"] == "+1 555 0199"


def test_salesforce_oauth2(sf):
    me = sf.oauth2("userinfo")
    assert me["user_id"] == USER_ID and me["preferred_username"] == "developer@local.org"


def test_salesforce_search(sf, account):
    result = sf.search("FIND {Acme} RETURNING Account(Id, Name)")
    assert [(r["Id"], r["Name"]) for r in result["searchRecords"]] == [(account, "Acme Corp")]


def test_salesforce_quick_search(sf, account):
    assert [r["Id"] for r in sf.quick_search("Acme")["searchRecords"]] == [account]


def test_salesforce_limits(sf):
    daily = sf.limits()["DailyApiRequests"]
    assert set(daily) == {"Max", "Remaining"} and 0 < daily["Remaining"] <= daily["Max"]


def test_salesforce_query(sf, account):
    answer = sf.query("SELECT Id, Name FROM Account")
    assert answer == {"totalSize": 1, "done": True, "records": [
        {"attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{account}"},
         "Id": account, "Name": "Acme Corp"}]}


def test_salesforce_query_more(local_org, sf):
    many_accounts(local_org, 2001)
    first = sf.query("SELECT Id FROM Account ORDER BY Id")
    assert first["totalSize"] == 2001 and len(first["records"]) == 2000 and first["done"] is False
    by_url = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    by_locator = sf.query_more(first["nextRecordsUrl"].rsplit("/", 1)[1])
    assert by_url == by_locator and by_url["done"] is True and len(by_url["records"]) == 1


def test_salesforce_query_all_iter(local_org, sf):
    many_accounts(local_org, 2001)
    records = sf.query_all_iter("SELECT Id FROM Account")
    assert next(records)["attributes"]["type"] == "Account"
    assert len(list(records)) == 2000  # the rest, the second page fetched on the way


def test_salesforce_query_all(sf, account):
    sf.Account.delete(account)
    assert sf.query_all("SELECT Id FROM Account")["totalSize"] == 0
    found = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert found["done"] is True and [(r["Id"], r["IsDeleted"]) for r in found["records"]] == [(account, True)]


# ---- Tooling API ---------------------------------------------------------------------------------------

def test_salesforce_toolingexecute(sf):
    answer = sf.toolingexecute("query/?q=SELECT+QualifiedApiName,+Label,+KeyPrefix,+DurableId,+IsCustomizable+"
                               "FROM+EntityDefinition+WHERE+QualifiedApiName+IN+('Account','Invoice__c')+"
                               "ORDER+BY+QualifiedApiName")
    assert (answer["size"], answer["totalSize"], answer["done"], answer["queryLocator"],
            answer["entityTypeName"]) == (2, 2, True, None, "EntityDefinition")
    account, invoice = answer["records"]
    assert account == {"attributes": {"type": "EntityDefinition",
                                      "url": "/services/data/v59.0/tooling/sobjects/EntityDefinition/Account"},
                       "QualifiedApiName": "Account", "Label": "Account", "KeyPrefix": "001", "DurableId": "Account",
                       "IsCustomizable": True}
    assert invoice["DurableId"].startswith("01I") and invoice["KeyPrefix"] == sf.Invoice__c.describe()["keyPrefix"]


def tooling_query(sf, soql):
    return sf.toolingexecute("query/", params={"q": soql})


def test_field_definitions_follow_describe(sf):
    answer = tooling_query(sf, "SELECT QualifiedApiName, DataType, Label, IsNillable, EntityDefinitionId, "
                               "EntityDefinition.QualifiedApiName FROM FieldDefinition "
                               "WHERE EntityDefinition.QualifiedApiName = 'Contact' ORDER BY QualifiedApiName")
    fields = {r["QualifiedApiName"]: r for r in answer["records"]}
    described = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert set(fields) == set(described) and answer["totalSize"] == len(described)
    assert list(fields) == sorted(described, key=str.lower)
    email = fields["Email"]
    assert (email["DataType"], email["Label"], email["IsNillable"]) == ("Email", described["Email"]["label"], True)
    assert email["EntityDefinitionId"] == "Contact"
    assert email["EntityDefinition"] == {"attributes": {
        "type": "EntityDefinition", "url": "/services/data/v59.0/tooling/sobjects/EntityDefinition/Contact"},
        "QualifiedApiName": "Contact"}
    assert fields["LastName"]["DataType"] == "Text(80)" and fields["LastName"]["IsNillable"] is False
    assert fields["AccountId"]["DataType"] == "Lookup(Account)"
    by_id = tooling_query(sf, "SELECT DurableId, DataType FROM FieldDefinition WHERE EntityDefinitionId = "
                              "'Contact' AND QualifiedApiName LIKE 'Last%'")
    assert [r["DurableId"] for r in by_id["records"]] == ["Contact.LastName", "Contact.LastModifiedDate",
                                                         "Contact.LastModifiedById"]


def test_custom_objects_and_fields_carry_the_ids_list_metadata_gives_them(sf):
    objects = tooling_query(sf, "SELECT Id, DeveloperName, NamespacePrefix FROM CustomObject")["records"]
    fields = tooling_query(sf, "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField")["records"]
    listed = {p.fullName: p.id for kind in ("CustomObject", "CustomField")
              for p in metadata(sf).list_metadata([metadata(sf).ListMetadataQuery(type=kind)]) if p.id}
    assert [(o["DeveloperName"], o["NamespacePrefix"]) for o in objects] == [("Invoice", None)]
    assert objects[0]["Id"] == listed["Invoice__c"]
    external = next(f for f in fields if f["DeveloperName"] == "External_ID" and f["TableEnumOrId"] == "Contact")
    assert external["Id"] == listed["Contact.External_ID__c"]
    assert {f["TableEnumOrId"] for f in fields if f["Id"] == listed["Invoice__c.Amount__c"]} == {objects[0]["Id"]}
    assert tooling_query(sf, "SELECT COUNT() FROM CustomField")["totalSize"] == len(fields)


def test_the_tooling_api_has_no_apex_and_says_so(sf):
    for soql in ("SELECT Id, Name FROM ApexClass", "SELECT Id, Name, TableEnumOrId FROM ApexTrigger"):
        assert tooling_query(sf, soql)["records"] == []
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.toolingexecute("executeAnonymous/", params={"anonymousBody": "System.debug('hi');"})
    code, message = error_of(refused)
    assert code == "FUNCTIONALITY_NOT_ENABLED" and "runs no Apex" in message


def test_tooling_sobjects_describe_the_tooling_objects(sf):
    listed = {o["name"]: o for o in sf.toolingexecute("sobjects/")["sobjects"]}
    assert {"EntityDefinition", "FieldDefinition", "CustomObject", "CustomField", "ApexClass",
            "ApexTrigger"} == set(listed)
    assert listed["CustomField"]["urls"]["describe"] == "/services/data/v59.0/tooling/sobjects/CustomField/describe"
    described = sf.toolingexecute("sobjects/FieldDefinition/describe")
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["EntityDefinitionId"]["referenceTo"] == ["EntityDefinition"] and "DataType" in fields
    assert set(sf.toolingexecute("sobjects/EntityDefinition/Account")) >= {"attributes", "QualifiedApiName",
                                                                            "KeyPrefix"}


def test_tooling_refuses_what_a_real_org_refuses(sf):
    refusals = [("SELECT Id FROM Nothing", "INVALID_TYPE"), ("SELECT Nope FROM EntityDefinition", "INVALID_FIELD"),
                ("SELECT QualifiedApiName FROM FieldDefinition", "MALFORMED_QUERY"),
                ("SELECT Id FROM EntityDefinition WHERE IsQueryable = 'yes'", "INVALID_FIELD")]
    for soql, code in refusals:
        with pytest.raises(SalesforceMalformedRequest) as refused:
            tooling_query(sf, soql)
        assert error_of(refused)[0] == code, soql
    with pytest.raises(SalesforceMalformedRequest) as unfiltered:
        tooling_query(sf, "SELECT QualifiedApiName FROM FieldDefinition")
    assert "Filter on a reified column is required" in error_of(unfiltered)[1]
    with pytest.raises(SalesforceResourceNotFound):
        sf.toolingexecute("sobjects/Nothing/describe")


# ---- Apex REST -----------------------------------------------------------------------------------------

def test_salesforce_apexecute(local_org, sf):
    before = sf.limits()["DailyApiRequests"]["Remaining"]
    for method in ("GET", "POST"):
        with pytest.raises(SalesforceResourceNotFound) as missing:
            sf.apexecute("Invoices/v1/pay", method=method, data={"id": "a01"})
        assert missing.value.content == [{"errorCode": "NOT_FOUND", "message": "Could not find a match for URL"}]
    assert sf.limits()["DailyApiRequests"]["Remaining"] == before - 3  # both Apex REST calls count, and limits
    stranger = Salesforce(session_id="00D000000000001!forged", instance_url=local_org.url,
                          session=loopback_session(local_org.url))
    with pytest.raises(SalesforceExpiredSession) as refused:
        stranger.apexecute("Invoices/v1/pay")
    assert refused.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_salesforce_parse_api_usage(sf):
    sf.limits()
    usage = sf.api_usage["api-usage"]
    assert isinstance(usage, Usage) and 0 < usage.used <= usage.total == 15000
    parsed = Salesforce.parse_api_usage("api-usage=18/5000;per-app-api-usage=17/250(appName=sample-app)")
    assert parsed["api-usage"] == Usage(18, 5000) and parsed["per-app-api-usage"].name == "sample-app"


# ---- the APIs with suites of their own: one working call each --------------------------------------------

def test_salesforce_mdapi(sf):
    described = metadata(sf).describe_metadata()
    assert described.organizationNamespace in ("", None)
    assert {m.xmlName for m in described.metadataObjects} == {"CustomObject"}


def test_salesforce_bulk(sf):
    [result] = sf.bulk.Account.insert([{"Name": "Bulk Corp"}])
    assert result["success"] is True and result["created"] is True and result["id"].startswith("001")


def test_salesforce_bulk2(sf):
    [result] = sf.bulk2.Account.insert(records=[{"Name": "Bulk Two Corp"}], wait=0)
    assert result["numberRecordsProcessed"] == 1 and result["numberRecordsFailed"] == 0


def deploy_zip() -> io.BytesIO:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("package.xml", '<?xml version="1.0"?><Package xmlns="http://soap.sforce.com/2006/04/metadata">'
                                  "<version>59.0</version></Package>")
    package.seek(0)
    return package


def test_salesforce_deploy(sf, account):
    with pytest.raises(SalesforceGeneralError) as refused:
        sf.deploy(deploy_zip(), sandbox=False)
    assert refused.value.status == 500
    assert "<faultcode>sf:INVALID_OPERATION</faultcode>" in refused.value.content
    assert "does not deploy .zip packages" in str(refused.value)
    assert sf.Account.get(account)["Name"] == "Acme Corp"  # the client works on after the refusal


def test_salesforce_checkDeployStatus(sf):
    with pytest.raises(SalesforceGeneralError) as refused:
        sf.checkDeployStatus("0Af000000000001AAA")
    assert "<faultcode>sf:INVALID_CROSS_REFERENCE_KEY</faultcode>" in refused.value.content


def test_salesforce_parse_result_to_json(local_org, sf):
    invoice = sf.Invoice__c.create({"Name": "INV-1", "Account__c": sf.Account.create({"Name": "A"})["id"],
                                    "Amount__c": 12.5})["id"]
    exact = client(local_org, sf, parse_float=Decimal, object_pairs_hook=dict)
    [record] = exact.query("SELECT Id, Amount__c FROM Invoice__c")["records"]
    assert record["Id"] == invoice and record["Amount__c"] == Decimal("12.5") and type(record) is dict
    response = requests.get(f"{local_org.url}/services/data/v59.0/limits/",
                            headers={"Authorization": f"Bearer {sf.session_id}"})
    assert exact.parse_result_to_json(response)["DailyApiRequests"]["Max"] == 15000


# ---- SFType: one object --------------------------------------------------------------------------------

def test_sftype_session_id(sf):
    assert isinstance(sf.Account, SFType) and sf.Account.session_id == sf.session_id


def test_sftype_metadata(sf, account):
    info = sf.Account.metadata()
    assert info["objectDescribe"]["name"] == "Account" and [r["Id"] for r in info["recentItems"]] == [account]


def test_sftype_describe(sf):
    fields = {f["name"]: f for f in sf.ContentVersion.describe()["fields"]}
    data = fields["VersionData"]
    assert (data["type"], data["soapType"], data["filterable"], data["sortable"]) == (
        "base64", "xsd:base64Binary", False, False)
    assert fields["Title"]["nameField"] and fields["ContentDocumentId"]["referenceTo"] == ["ContentDocument"]
    attachments = next(r for r in sf.Account.describe()["childRelationships"] if r["relationshipName"] == "Attachments")
    assert (attachments["childSObject"], attachments["field"]) == ("Attachment", "ParentId")


# ---- layouts -------------------------------------------------------------------------------------------

LAYOUT_KEYS = {"buttonLayoutSection", "detailLayoutSections", "editLayoutSections", "feedView",
               "highlightsPanelLayoutSection", "id", "multirowEditLayoutSections", "offlineLinks", "quickActionList",
               "relatedContent", "relatedLists", "saveOptions"}
SECTION_KEYS = {"collapsed", "columns", "heading", "layoutRows", "layoutSectionId", "parentLayoutId", "rows",
                "tabOrder", "useCollapsibleSection", "useHeading"}
ITEM_KEYS = {"editableForNew", "editableForUpdate", "label", "layoutComponents", "placeholder", "required"}


def items(section):
    return [item for row in section["layoutRows"] for item in row["layoutItems"]]


def test_sftype_describe_layout(sf):
    layout = sf.Contact.describe_layout(MASTER)
    assert set(layout) == LAYOUT_KEYS and layout["id"].startswith("00h")
    described = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    main, system = layout["detailLayoutSections"]
    for section in (main, system):
        assert set(section) == SECTION_KEYS and section["columns"] == 2 and section["parentLayoutId"] == layout["id"]
        assert all(row["numItems"] == 2 == len(row["layoutItems"]) for row in section["layoutRows"])
        assert section["rows"] == len(section["layoutRows"])
    fields = {item["layoutComponents"][0]["value"]: item for item in items(main) if not item["placeholder"]}
    assert set(fields) == set(described) - {"Id", "IsDeleted", "Name", "CreatedDate", "CreatedById",
                                            "LastModifiedDate", "LastModifiedById", "SystemModstamp"}
    last_name = fields["LastName"]
    assert set(last_name) == ITEM_KEYS and last_name["required"] and last_name["label"] == "Last Name"
    component = last_name["layoutComponents"][0]
    assert component["type"] == "Field" and component["details"] == described["LastName"]
    assert not fields["Phone"]["required"] and fields["Phone"]["editableForUpdate"]
    assert [i["layoutComponents"][0]["value"] for i in items(system)] == ["CreatedById", "LastModifiedById"]
    assert layout["editLayoutSections"] == layout["detailLayoutSections"]
    assert [b["name"] for b in layout["buttonLayoutSection"]["detailButtons"]] == ["Edit", "Delete", "Clone"]


def test_layouts_list_related_lists_and_the_master_record_type(sf):
    everything = sf.restful("sobjects/Account/describe/layouts/")
    assert set(everything) == {"layouts", "recordTypeMappings", "recordTypeSelectorRequired"}
    [layout] = everything["layouts"]
    [mapping] = everything["recordTypeMappings"]
    assert (mapping["recordTypeId"], mapping["layoutId"], mapping["master"]) == (MASTER, layout["id"], True)
    assert mapping["urls"]["layout"] == f"/services/data/v59.0/sobjects/Account/describe/layouts/{MASTER}"
    assert {p["picklistName"] for p in mapping["picklistsForRecordType"]} >= {"Type", "Industry"}
    related = {r["name"]: r for r in layout["relatedLists"]}
    assert {"Contacts", "Cases", "Orders", "Invoices__r", "Attachments"} <= set(related)
    contacts = related["Contacts"]
    assert (contacts["sobject"], contacts["field"], contacts["label"]) == ("Contact", "AccountId", "Contacts")
    assert contacts["columns"][0] == {"field": "Contact.Name", "fieldApiName": "Name", "format": None,
                                      "label": "Full Name", "lookupId": "Id", "name": "Name", "sortable": True}
    assert sf.Account.describe_layout(MASTER[:15])["id"] == layout["id"]  # a 15-character Id is the same


def test_compact_layouts_are_the_system_default(sf, http):
    compact = sf.restful("sobjects/Account/describe/compactLayouts")
    [layout] = compact["compactLayouts"]
    assert (layout["name"], layout["label"], layout["objectType"]) == ("SYSTEM", "System Default", "Account")
    assert layout["fieldItems"][0]["layoutComponents"][0]["value"] == "Name"
    assert compact["recordTypeCompactLayoutMappings"][0]["recordTypeId"] == MASTER
    assert sf.restful("sobjects/Account/describe/compactLayouts/primary") == layout
    assert sf.restful("compactLayouts", params={"q": "Account,Contact"})["Contact"]["objectType"] == "Contact"
    assert sf.restful("sobjects/Account/describe/approvalLayouts") == {"approvalLayouts": []}


def test_layouts_answer_not_found_where_a_real_org_has_none(sf, http, account):
    for path in (f"sobjects/Contact/describe/layouts/{account}", "sobjects/Organization/describe/layouts/",
                 "sobjects/Attachment/describe/compactLayouts", "sobjects/Account/listviews",
                 "sobjects/Account/quickActions"):
        answer = http("GET", path)
        assert answer.status_code == 404 and answer.json()[0]["errorCode"] == "NOT_FOUND", path
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.describe_layout(account)  # a record's Id is no record type's


# ---- one record ----------------------------------------------------------------------------------------

def test_sftype_get(sf, account):
    record = sf.Account.get(account)
    assert list(record)[:2] == ["attributes", "Id"] and record["Name"] == "Acme Corp"
    assert set(sf.Account.get(account, params={"fields": "Name,Phone"})) == {"attributes", "Name", "Phone"}


def test_sftype_get_by_custom_id(sf, account):
    contact = sf.Contact.create({"LastName": "Lovelace", "AccountId": account, "External_ID__c": "ada one"})["id"]
    assert sf.Contact.get_by_custom_id("External_ID__c", "ada one")["Id"] == contact


def test_sftype_create(sf):
    created = sf.Account.create({"Name": "Initech"})
    assert set(created) == {"id", "success", "errors"} and created["success"] and created["errors"] == []


def test_sftype_upsert(sf, account):
    assert sf.Contact.upsert("External_ID__c/ext-1", {"LastName": "Hopper", "AccountId": account}) == 201
    assert sf.Contact.upsert("External_ID__c/ext-1", {"FirstName": "Grace"}) == 200


def test_sftype_update(sf, account):
    response = sf.Account.update(account, {"Name": "Acme Inc"}, raw_response=True)
    assert response.status_code == 204 and response.content == b""
    assert sf.Account.get(account)["Name"] == "Acme Inc"


def test_sftype_delete(sf, account):
    assert sf.Account.delete(account) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(account)


# ---- replication windows -------------------------------------------------------------------------------

def refusal(call):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        call()
    return error_of(refused)[0]


def test_sftype_deleted(sf, account):
    sf.Account.delete(account)
    now = datetime.now(UTC)
    answer = sf.Account.deleted(now - timedelta(days=14), now + timedelta(minutes=1))
    assert [d["id"] for d in answer["deletedRecords"]] == [account]
    after = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00.000+0000")
    assert answer["latestDateCovered"] <= after  # not the window's end: that is still to come
    assert answer["earliestDateAvailable"].endswith("+0000")
    assert refusal(lambda: sf.Account.deleted(now - timedelta(days=16), now)) == "INVALID_REPLICATION_DATE"
    assert refusal(lambda: sf.Account.deleted(now, now)) == "INVALID_REPLICATION_DATE"
    assert refusal(lambda: sf.Account.deleted(now, now - timedelta(hours=1))) == "INVALID_REPLICATION_DATE"


def test_sftype_updated(sf, account):
    now = datetime.now(UTC)
    answer = sf.Account.updated(now - timedelta(days=29), now + timedelta(minutes=1))
    assert answer["ids"] == [account] and answer["latestDateCovered"].endswith(":00.000+0000")
    minute = now.replace(second=0, microsecond=0)
    # seconds are ignored: a window within one minute is empty, so start does not precede end
    assert refusal(lambda: sf.Account.updated(minute + timedelta(seconds=1), minute + timedelta(seconds=59))) == (
        "INVALID_REPLICATION_DATE")
    assert refusal(lambda: sf.Account.updated(now - timedelta(days=31), now)) == "INVALID_REPLICATION_DATE"
    assert sf.Account.updated(now - timedelta(days=2), now - timedelta(days=1))["ids"] == []


def test_sftype_parse_result_to_json(local_org, sf, account):
    response = requests.get(f"{local_org.url}/services/data/v59.0/sobjects/Account/{account}",
                            headers={"Authorization": f"Bearer {sf.session_id}"})
    assert client(local_org, sf, object_pairs_hook=dict).Account.parse_result_to_json(response)["Id"] == account


# ---- files ---------------------------------------------------------------------------------------------

def test_sftype_upload_base64(sf, pdf_file):
    # simple-salesforce sends the blob field alone; ContentVersion also needs the file's name, as in Salesforce
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.ContentVersion.upload_base64(str(pdf_file), base64_field="VersionData")
    assert error_of(refused) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [PathOnClient]")
    assert refused.value.content[0]["fields"] == ["PathOnClient"]
    with pytest.raises(SalesforceMalformedRequest) as attachment:
        sf.Attachment.upload_base64(str(pdf_file))  # base64_field="Body"
    assert error_of(attachment)[0] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM ContentVersion")["totalSize"] == 0


def test_sftype_update_base64(sf, account, pdf_file, tmp_path):
    attachment = sf.Attachment.create({"ParentId": account, "Name": "notes.txt", "ContentType": "text/plain",
                                       "Body": b64(b"first draft")})["id"]
    assert sf.Attachment.update_base64(attachment, str(pdf_file)) == 204
    assert sf.Attachment.get_base64(attachment) == PDF
    assert sf.Attachment.get(attachment)["BodyLength"] == len(PDF)
    version = sf.ContentVersion.create({"PathOnClient": "a.txt", "VersionData": b64(b"a")})["id"]
    with pytest.raises(SalesforceMalformedRequest) as refused:  # a file's data changes by a new version
        sf.ContentVersion.update_base64(version, str(pdf_file), base64_field="VersionData")
    assert error_of(refused)[0] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_sftype_get_base64(sf, http, account):
    version = sf.ContentVersion.create({"Title": "Brochure", "PathOnClient": "brochure.pdf",
                                        "VersionData": b64(PDF), "FirstPublishLocationId": account})["id"]
    assert sf.ContentVersion.get_base64(version, base64_field="VersionData") == PDF
    raw = http("GET", f"sobjects/ContentVersion/{version}/versiondata")  # the field name in any case
    assert raw.content == PDF and raw.headers["Content-Type"] == "application/pdf"
    record = sf.ContentVersion.get(version)
    assert record["VersionData"] == f"/services/data/v59.0/sobjects/ContentVersion/{version}/VersionData"
    assert (record["ContentSize"], record["FileType"], record["FileExtension"], record["VersionNumber"],
            record["IsLatest"]) == (len(PDF), "PDF", "pdf", "1", True)
    assert len(record["Checksum"]) == 32


def test_a_content_version_makes_its_document_and_later_versions_join_it(sf):
    first = sf.ContentVersion.create({"PathOnClient": "plan.txt", "VersionData": b64(b"v1")})["id"]
    document = sf.ContentVersion.get(first)["ContentDocumentId"]
    assert document.startswith("069")
    doc = sf.ContentDocument.get(document)
    assert (doc["Title"], doc["LatestPublishedVersionId"], doc["FileType"]) == ("plan", first, "TEXT")
    second = sf.ContentVersion.create({"ContentDocumentId": document, "PathOnClient": "plan.txt",
                                       "VersionData": b64(b"version two")})["id"]
    versions = sf.query(format_soql("SELECT Id, VersionNumber, IsLatest, VersionData FROM ContentVersion "
                                    "WHERE ContentDocumentId = {} ORDER BY VersionNumber", document))["records"]
    assert [(v["Id"], v["VersionNumber"], v["IsLatest"]) for v in versions] == [(first, "1", False),
                                                                               (second, "2", True)]
    assert versions[1]["VersionData"].endswith(f"/ContentVersion/{second}/VersionData")
    assert sf.ContentDocument.get(document)["ContentSize"] == len(b"version two")
    assert sf.ContentDocument.delete(document) == 204
    assert sf.query("SELECT COUNT() FROM ContentVersion")["totalSize"] == 0  # a file's versions go with it


def test_attachments_go_with_their_parent(sf, account):
    attachment = sf.Attachment.create({"ParentId": account, "Name": "a.txt", "Body": b64(b"a")})["id"]
    sf.Account.delete(account)
    with pytest.raises(SalesforceResourceNotFound):
        sf.Attachment.get(attachment)


def test_a_blob_path_on_an_object_without_blobs_is_an_external_id_lookup(sf, account):
    contact = sf.Contact.create({"LastName": "Body", "AccountId": account, "External_ID__c": "Body"})["id"]
    assert sf.Contact.get_by_custom_id("External_ID__c", "Body")["Id"] == contact


def test_files_come_in_multipart_too(sf, http, account):
    created = http("POST", "sobjects/ContentVersion/", files={
        "entity_content": (None, '{"Title": "Scan", "PathOnClient": "scan.png"}', "application/json"),
        "VersionData": ("scan.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png")})
    assert created.status_code == 201 and created.json()["success"] is True
    assert http("GET", f"sobjects/ContentVersion/{created.json()['id']}/VersionData").headers[
        "Content-Type"] == "image/png"


def test_files_above_salesforce_sizes_are_refused(sf, account):
    big = b64(b"\0" * (25 * 1024 * 1024 + 1))
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Attachment.create({"ParentId": account, "Name": "big.bin", "Body": big})
    assert error_of(refused)[0] == "MAXIMUM_SIZE_OF_ATTACHMENT"
    with pytest.raises(SalesforceMalformedRequest) as not_base64:
        sf.Attachment.create({"ParentId": account, "Name": "x", "Body": "not base64!"})
    assert error_of(not_base64)[0] == "INVALID_TYPE_ON_FIELD_IN_RECORD"


# ---- the whole API -------------------------------------------------------------------------------------

# Salesforce answers these through __getattr__, not as attributes of the class.
DYNAMIC = {"salesforce": ("bulk", "bulk2")}


def public_methods(cls) -> list[str]:
    """The public attributes a class defines (methods, properties, static methods)."""
    return sorted(name for name in vars(cls) if not name.startswith("_"))


def test_every_public_method_of_simple_salesforce_has_a_test_here():
    module = sys.modules[__name__]
    for cls, prefix in ((Salesforce, "salesforce"), (SFType, "sftype")):
        for name in [*public_methods(cls), *DYNAMIC.get(prefix, ())]:
            assert callable(getattr(module, f"test_{prefix}_{name}", None)), (
                f"simple-salesforce's {cls.__name__}.{name} has no test_{prefix}_{name} in this suite")
