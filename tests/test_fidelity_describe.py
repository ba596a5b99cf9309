"""Describe that tools can build forms, queries and types from, and the standard objects every org has.

Driven through simple-salesforce (`describe()`, `<Type>.describe()`, `<Type>.metadata()`, `is_sandbox()`,
queries and gets) and plain HTTP where it has no wrapper (If-Modified-Since, paths without a slash).
"""

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from core import connect
from standins.org.api.common import ORG_ID, TIME_ZONE, USER_ID
from standins.org.server import Org

OBJECT_KEYS = {
    "actionOverrides", "activateable", "associateEntityType", "associateParentEntity", "childRelationships",
    "compactLayoutable", "createable", "custom", "customSetting", "deepCloneable", "defaultImplementation",
    "deletable", "deprecatedAndHidden", "extendedBy", "extendsInterfaces", "feedEnabled", "fields", "hasSubtypes",
    "implementedBy", "implementsInterfaces", "isInterface", "isSubtype", "keyPrefix", "label", "labelPlural",
    "layoutable", "listviewable", "lookupLayoutable", "mergeable", "mruEnabled", "name", "namedLayoutInfos",
    "networkScopeFieldName", "queryable", "recordTypeInfos", "replicateable", "retrieveable", "searchLayoutable",
    "searchable", "sobjectDescribeOption", "supportedScopes", "triggerable", "undeletable", "updateable", "urls",
}
GLOBAL_KEYS = {
    "activateable", "associateEntityType", "associateParentEntity", "createable", "custom", "customSetting",
    "deepCloneable", "deletable", "deprecatedAndHidden", "feedEnabled", "hasSubtypes", "isInterface", "isSubtype",
    "keyPrefix", "label", "labelPlural", "layoutable", "mergeable", "mruEnabled", "name", "queryable",
    "replicateable", "retrieveable", "searchable", "triggerable", "undeletable", "updateable", "urls",
}
FIELD_KEYS = {
    "aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated", "calculatedFormula",
    "cascadeDelete", "caseSensitive", "compoundFieldName", "controllerName", "createable", "custom", "defaultValue",
    "defaultValueFormula", "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "digits",
    "displayLocationInDecimal", "encrypted", "externalId", "extraTypeInfo", "filterable", "filteredLookupInfo",
    "formulaTreatNullNumberAsZero", "groupable", "highScaleNumber", "htmlFormatted", "idLookup", "inlineHelpText",
    "label", "length", "mask", "maskType", "name", "nameField", "namePointing", "nillable", "permissionable",
    "picklistValues", "polymorphicForeignKey", "precision", "queryByDistance", "referenceTargetField", "referenceTo",
    "relationshipName", "relationshipOrder", "restrictedDelete", "restrictedPicklist", "scale",
    "searchPrefilterable", "soapType", "sortable", "type", "unique", "updateable", "writeRequiresMasterRead",
}
CHILD_RELATIONSHIP_KEYS = {"cascadeDelete", "childSObject", "deprecatedAndHidden", "field", "junctionIdListNames",
                           "junctionReferenceTo", "relationshipName", "restrictedDelete"}
STANDARD_PREFIXES = {"User": "005", "Organization": "00D", "RecordType": "012", "Pricebook2": "01s",
                     "PricebookEntry": "01u", "Profile": "00e"}
AUDIT_FIELDS = ("Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
OWNED = {"Account", "Contact", "Case", "Order", "Invoice__c", "ContentDocument", "ContentVersion", "Attachment"}


@pytest.fixture
def http(local_org, org_session):
    """Plain HTTP against the org's REST base, with the client's session."""
    return lambda path, **kw: org_session.get(f"{local_org.url}/services/data/v59.0/{path}", **kw)


def fields_of(described):
    return {f["name"]: f for f in described["fields"]}


# ---- describeGlobal ------------------------------------------------------------------------------

def test_describe_global_lists_every_object_with_the_keys_salesforce_gives(sf):
    described = sf.describe()
    assert described["encoding"] == "UTF-8" and described["maxBatchSize"] == 200
    by_name = {o["name"]: o for o in described["sobjects"]}
    assert set(connect.object_definitions()) | set(STANDARD_PREFIXES) <= set(by_name)
    for o in described["sobjects"]:
        assert set(o) == GLOBAL_KEYS, o["name"]
        assert o["urls"]["sobject"] == f"/services/data/v59.0/sobjects/{o['name']}"
        assert o["urls"]["describe"] == f"/services/data/v59.0/sobjects/{o['name']}/describe"
        assert o["urls"]["rowTemplate"] == f"/services/data/v59.0/sobjects/{o['name']}/{{ID}}"
    assert {name: by_name[name]["keyPrefix"] for name in STANDARD_PREFIXES} == STANDARD_PREFIXES
    assert by_name["Account"]["urls"]["defaultValues"].endswith("/sobjects/Account/defaultValues?recordTypeId&fields")
    assert by_name["Invoice__c"]["custom"] and not by_name["Account"]["custom"]


def test_describe_answers_if_modified_since_with_304(http):
    first = http("sobjects/")
    assert first.status_code == 200 and first.headers["Last-Modified"]
    for path in ("sobjects/", "sobjects/Contact/describe"):
        unchanged = http(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert unchanged.status_code == 304 and unchanged.content == b""
        stale = http(path, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert stale.status_code == 200 and stale.json()


# ---- one object's describe -----------------------------------------------------------------------

def test_object_describe_has_every_key_and_the_master_record_type(sf):
    described = sf.Contact.describe()
    assert set(described) == OBJECT_KEYS
    assert described["recordTypeInfos"] == [{
        "active": True, "available": True, "defaultRecordTypeMapping": True, "developerName": "Master",
        "master": True, "name": "Master", "recordTypeId": "012000000000000AAA",
        "urls": {"layout": "/services/data/v59.0/sobjects/Contact/describe/layouts/012000000000000AAA"}}]
    urls = described["urls"]
    assert {"sobject", "describe", "rowTemplate", "defaultValues", "compactLayouts", "layouts",
            "uiDetailTemplate", "uiEditTemplate", "uiNewRecord"} <= set(urls)
    assert urls["uiNewRecord"].startswith("https://") and urls["uiNewRecord"].endswith("/003/e")
    assert described["createable"] and described["queryable"] and described["mergeable"]
    assert sf.OrderItem.describe()["recordTypeInfos"] == []  # order products have no record types


def test_child_relationships_carry_every_key_salesforce_gives(sf):
    account = sf.Account.describe()
    for rel in account["childRelationships"]:
        assert set(rel) == CHILD_RELATIONSHIP_KEYS
    named = {r["relationshipName"]: r for r in account["childRelationships"] if r["relationshipName"]}
    assert named["Contacts"] == {"cascadeDelete": False, "childSObject": "Contact", "deprecatedAndHidden": False,
                                 "field": "AccountId", "junctionIdListNames": [], "junctionReferenceTo": [],
                                 "relationshipName": "Contacts", "restrictedDelete": False}
    assert {"Contacts", "Orders", "Cases", "Invoices__r"} <= set(named)
    order_items = next(r for r in sf.Order.describe()["childRelationships"] if r["relationshipName"] == "OrderItems")
    assert order_items["cascadeDelete"] is True
    assert fields_of(sf.OrderItem.describe())["OrderId"]["cascadeDelete"] is True
    products = {r["relationshipName"] for r in sf.Product2.describe()["childRelationships"]}
    assert "PricebookEntries" in products


def test_every_field_has_every_key_and_a_soap_type_from_its_type(sf):
    soap = {"id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "textarea": "xsd:string",
            "picklist": "xsd:string", "email": "xsd:string", "phone": "xsd:string", "boolean": "xsd:boolean",
            "double": "xsd:double", "currency": "xsd:double", "int": "xsd:int", "date": "xsd:date",
            "datetime": "xsd:dateTime", "base64": "xsd:base64Binary"}
    seen = set()
    for name in [o["name"] for o in sf.describe()["sobjects"]]:
        for f in getattr(sf, name).describe()["fields"]:
            assert set(f) == FIELD_KEYS, f"{name}.{f['name']}"
            assert f["soapType"] == soap[f["type"]], f"{name}.{f['name']}"
            for p in f["picklistValues"]:
                assert set(p) == {"active", "defaultValue", "label", "validFor", "value"}
            seen.add(f["type"])
    assert set(soap) <= seen


def test_field_values_follow_from_the_type(sf):
    case, account, invoice = fields_of(sf.Case.describe()), fields_of(sf.Account.describe()), fields_of(
        sf.Invoice__c.describe())
    long_text = case["Description"]
    assert long_text["type"] == "textarea" and long_text["length"] == 32000
    assert not (long_text["filterable"] or long_text["sortable"] or long_text["groupable"])
    assert account["BillingStreet"]["filterable"] and account["BillingStreet"]["sortable"]
    assert not invoice["Amount__c"]["groupable"] and invoice["Amount__c"]["filterable"]
    assert not fields_of(sf.OrderItem.describe())["Quantity"]["groupable"]  # double
    assert not account["CreatedDate"]["groupable"] and account["CreatedDate"]["sortable"]
    assert account["Name"]["nameField"] and not account["Phone"]["nameField"]
    assert case["CaseNumber"]["nameField"] and case["CaseNumber"]["autoNumber"]
    assert account["Id"]["idLookup"] and fields_of(sf.Contact.describe())["External_ID__c"]["idLookup"]
    assert account["Name"]["byteLength"] == 3 * 255 and account["BillingCity"]["byteLength"] == 3 * 40
    assert account["Type"]["restrictedPicklist"] and account["Type"]["picklistValues"][0]["validFor"] is None
    assert fields_of(sf.Product2.describe())["IsActive"]["defaultValue"] is False
    contact = fields_of(sf.Contact.describe())
    assert contact["Name"]["extraTypeInfo"] == "personname" and contact["LastName"]["compoundFieldName"] == "Name"
    assert fields_of(sf.Organization.describe())["FiscalYearStartMonth"]["digits"] == 9


# ---- the standard fields every object has ------------------------------------------------------------

def test_every_object_describes_its_audit_fields_and_owned_objects_their_owner(sf):
    for o in sf.describe()["sobjects"]:
        described = fields_of(getattr(sf, o["name"]).describe())
        assert set(AUDIT_FIELDS) <= set(described), o["name"]
        assert described["CreatedById"]["referenceTo"] == ["User"]
        assert described["CreatedById"]["relationshipName"] == "CreatedBy"
        assert not described["LastModifiedDate"]["updateable"]
        assert ("OwnerId" in described) == (o["name"] in OWNED), o["name"]
    owner = fields_of(sf.Account.describe())["OwnerId"]
    assert owner["type"] == "reference" and owner["referenceTo"] == ["User"] and owner["relationshipName"] == "Owner"
    assert owner["createable"] and owner["updateable"] and owner["defaultedOnCreate"] and not owner["nillable"]


def test_the_audit_fields_stay_out_of_the_connect_contract():
    for name, o in connect.object_definitions().items():
        assert {"OwnerId", "CreatedById", "LastModifiedById", "LastModifiedDate"}.isdisjoint(
            f["name"] for f in o["fields"]), name
    assert set(STANDARD_PREFIXES).isdisjoint(connect.object_definitions())
    assert set(STANDARD_PREFIXES).isdisjoint(connect.mappings())


def test_the_org_sets_owner_creator_and_modifier_on_write(sf):
    account = sf.Account.create({"Name": "Acme"})["id"]
    created = sf.Account.get(account)
    assert created["OwnerId"] == created["CreatedById"] == created["LastModifiedById"] == USER_ID
    assert created["LastModifiedDate"] == created["SystemModstamp"] >= created["CreatedDate"]
    sf.Account.update(account, {"Phone": "+1 555 0100"})
    updated = sf.Account.get(account)
    assert updated["LastModifiedDate"] == updated["SystemModstamp"] >= created["LastModifiedDate"]
    assert updated["CreatedDate"] == created["CreatedDate"]
    found = sf.query(format_soql("SELECT Id, OwnerId, CreatedById, LastModifiedDate FROM Account "
                                 "WHERE OwnerId = {} AND LastModifiedDate >= {:literal}",
                                 USER_ID, created["CreatedDate"].replace("+0000", "Z")))
    assert [r["Id"] for r in found["records"]] == [account]
    assert "OwnerId" not in fields_of(sf.OrderItem.describe())  # order products belong to their order


def test_an_owner_must_be_a_user(sf):
    account = sf.Account.create({"Name": "Acme"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.update(account, {"OwnerId": account})
    # As Salesforce answers an owner of the wrong kind (a queue on an object without queues, say).
    assert caught.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert caught.value.content[0]["message"].startswith("Owner ID: id value of incorrect type")
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Account.update(account, {"CreatedById": USER_ID})
    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Account.update(account, {"OwnerId": USER_ID}) == 204


# ---- sobjects/<Type>/ ----------------------------------------------------------------------------

def test_metadata_gives_the_object_and_its_recently_changed_records(sf, http):
    ids = [sf.Account.create({"Name": f"Account {i}"})["id"] for i in range(7)]
    sf.Account.update(ids[0], {"Phone": "+1 555 0100"})
    info = sf.Account.metadata()
    assert set(info) == {"objectDescribe", "recentItems"}
    assert set(info["objectDescribe"]) == GLOBAL_KEYS and info["objectDescribe"]["name"] == "Account"
    recent = info["recentItems"]
    assert 0 < len(recent) <= 5 and recent[0]["Id"] == ids[0] and recent[0]["Name"] == "Account 0"
    assert set(recent[0]) == {"attributes", "Id", "Name"}
    assert recent[0]["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{ids[0]}"}
    assert http("sobjects/account").json()["objectDescribe"]["name"] == "Account"  # no slash, any case
    cases = sf.Case.metadata()["recentItems"]
    assert cases == []
    case = sf.Case.create({"Subject": "Help"})["id"]
    assert set(sf.Case.metadata()["recentItems"][0]) == {"attributes", "Id", "CaseNumber"}
    assert sf.Case.metadata()["recentItems"][0]["Id"] == case


def test_an_unknown_object_is_not_found(http):
    for path in ("sobjects/Nothing/", "sobjects/Nothing/describe"):
        answer = http(path)
        assert answer.status_code == 404 and answer.json()[0]["errorCode"] == "NOT_FOUND"


# ---- the standard objects and records --------------------------------------------------------------

def test_is_sandbox_is_false_and_the_org_is_a_developer_edition(sf):
    assert sf.is_sandbox() is False
    org = sf.query("SELECT Id, Name, OrganizationType, TimeZoneSidKey, LanguageLocaleKey, InstanceName "
                   "FROM Organization")["records"]
    assert len(org) == 1 and org[0]["Id"] == ORG_ID and org[0]["OrganizationType"] == "Developer Edition"
    assert org[0]["TimeZoneSidKey"] == TIME_ZONE and org[0]["LanguageLocaleKey"] == "en_US" and org[0]["Name"]


def test_the_integration_user_and_its_profile(sf):
    users = sf.query("SELECT Id, Username FROM User")["records"]
    assert [(u["Id"], u["Username"]) for u in users] == [(USER_ID, "developer@local.org")]
    user = sf.User.get(USER_ID)
    assert user["IsActive"] is True and user["Name"] == "Local Developer" and user["TimeZoneSidKey"] == TIME_ZONE
    assert user["ProfileId"].startswith("00e")
    profile = sf.Profile.get(user["ProfileId"])
    assert profile["Name"] == "System Administrator"
    assert sf.query("SELECT Id FROM RecordType")["totalSize"] == 0  # only the Master, which is no record


def test_the_standard_price_book_and_its_entries(sf):
    books = sf.query("SELECT Id, Name, IsStandard, IsActive FROM Pricebook2")["records"]
    assert [(b["Name"], b["IsStandard"], b["IsActive"]) for b in books] == [("Standard Price Book", True, True)]
    product = sf.Product2.create({"Name": "Widget", "ProductCode": "W-1"})["id"]
    entry = sf.PricebookEntry.create({"Pricebook2Id": books[0]["Id"], "Product2Id": product, "UnitPrice": 9.5})["id"]
    assert entry.startswith("01u")
    got = sf.PricebookEntry.get(entry)
    assert got["Name"] == "Widget" and got["ProductCode"] == "W-1" and got["IsActive"] is False
    assert "OwnerId" not in got


def test_standard_objects_refuse_what_salesforce_refuses(sf):
    refusals = [
        lambda: sf.Organization.create({"Name": "Another"}),
        lambda: sf.Organization.update(ORG_ID, {}),
        lambda: sf.User.delete(USER_ID),
        lambda: sf.Profile.create({"Name": "Nobody"}),
    ]
    for refused in refusals:
        with pytest.raises(SalesforceMalformedRequest) as caught:
            refused()
        assert caught.value.content[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    organization = sf.Organization.describe()
    assert not (organization["createable"] or organization["updateable"] or organization["deletable"])
    assert sf.User.describe()["createable"] and not sf.User.describe()["deletable"]


def test_starting_the_org_again_adds_no_second_organization_or_user(local_org, sf):
    Org(local_org.org.database_url, local_org.org.schema)
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 1
    assert sf.query("SELECT COUNT() FROM Organization")["totalSize"] == 1
