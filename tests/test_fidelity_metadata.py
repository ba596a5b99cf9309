"""The Metadata API (simple-salesforce's `sf.mdapi`) reports what describe serves, and deploys agree with it."""

import re

import pytest
from zeep.exceptions import Fault

from core.salesforce import metadata
from standins.org.client import session


@pytest.fixture
def md(sf):
    return metadata(sf)


def field(describe, name):
    return next(f for f in describe["fields"] if f["name"] == name)


def test_a_custom_object_reads_as_its_describe_says(sf, md):
    describe = sf.Invoice__c.describe()
    invoice = md.CustomObject.read(["Invoice__c"])
    assert (invoice.fullName, invoice.label, invoice.pluralLabel) == ("Invoice__c", describe["label"],
                                                                      describe["labelPlural"])
    assert (invoice.nameField.type, invoice.nameField.label) == ("Text", field(describe, "Name")["label"])
    assert (invoice.deploymentStatus, invoice.sharingModel) == ("Deployed", "ReadWrite")
    assert [f.fullName for f in invoice.fields] == [f["name"] for f in describe["fields"] if f["custom"]]


def test_custom_fields_read_with_the_type_and_attributes_describe_gives_them(sf, md):
    invoice, contact, account = sf.Invoice__c.describe(), sf.Contact.describe(), sf.Account.describe()
    amount, external_id, lookup, status, due = md.CustomField.read([
        "Invoice__c.Amount__c", "Contact.External_ID__c", "Invoice__c.Account__c", "Invoice__c.Status__c",
        "Invoice__c.Due_Date__c"])
    described = field(invoice, "Amount__c")
    assert (amount.type, amount.label, amount.precision, amount.scale, amount.required) == (
        "Currency", described["label"], described["precision"], described["scale"], not described["nillable"])
    described = field(contact, "External_ID__c")
    assert (external_id.type, external_id.length, external_id.externalId, external_id.unique) == (
        "Text", described["length"], True, True)
    described = field(invoice, "Account__c")
    child = next(r for r in account["childRelationships"] if r["childSObject"] == "Invoice__c")
    assert (lookup.type, lookup.referenceTo, lookup.required) == ("Lookup", described["referenceTo"][0], True)
    assert lookup.relationshipName + "__r" == child["relationshipName"]
    assert [(v.fullName, v.label) for v in status.valueSet.valueSetDefinition.value] == [
        (p["value"], p["label"]) for p in field(invoice, "Status__c")["picklistValues"]]
    assert status.type == "Picklist" and status.valueSet.restricted is True
    assert (due.type, due.label) == ("Date", field(invoice, "Due_Date__c")["label"])


def test_a_standard_object_reads_as_its_custom_fields(sf, md):
    account, contact = md.CustomObject.read(["Account", "Contact"])
    assert account.fullName == "Account" and account.label is None
    assert [f.fullName for f in account.fields] == [f["name"] for f in sf.Account.describe()["fields"] if f["custom"]]
    assert [f.fullName for f in contact.fields] == [f["name"] for f in sf.Contact.describe()["fields"] if f["custom"]]


def test_names_the_org_does_not_have_read_as_empty_records(md):
    assert md.CustomObject.read(["Nope__c"]).fullName is None
    nope, known = md.CustomField.read(["Invoice__c.Nope__c", "Invoice__c.Amount__c"])
    assert nope.fullName is None and known.fullName == "Invoice__c.Amount__c"


def test_creating_a_component_the_org_has_is_a_duplicate(md):
    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        md.CustomObject.create([md.CustomObject(fullName="Invoice__c", label="Invoice", pluralLabel="Invoices",
                                                nameField=md.CustomField(type="Text", label="Invoice Name"),
                                                deploymentStatus="Deployed", sharingModel="ReadWrite")])
    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        md.CustomField.create([md.CustomField(fullName="Contact.External_ID__c", label="External ID", type="Text",
                                              length=36, externalId=True, unique=True)])


def soap_upsert(local_org, sf, component_xml):
    """upsertMetadata over plain SOAP, for the UpsertResult's `created` flag simple-salesforce does not return."""
    envelope = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
                '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                'xmlns="http://soap.sforce.com/2006/04/metadata"><soapenv:Header><SessionHeader><sessionId>'
                f'{sf.session_id}</sessionId></SessionHeader></soapenv:Header><soapenv:Body><upsertMetadata>'
                f'{component_xml}</upsertMetadata></soapenv:Body></soapenv:Envelope>')
    answer = session(local_org.url).post(f"https://{sf.sf_instance}/services/Soap/m/59.0",
                                         data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": '""'})
    assert answer.status_code == 200
    return answer.text


def test_upserting_a_component_the_org_has_succeeds_without_creating_it(local_org, sf, md):
    md.CustomField.upsert([md.CustomField(fullName="Invoice__c.Amount__c", label="Amount", type="Currency",
                                          precision=18, scale=2)])
    text = soap_upsert(local_org, sf, '<metadata xsi:type="CustomField"><fullName>Invoice__c.Amount__c</fullName>'
                                      '<label>Amount</label><type>Currency</type></metadata>')
    assert re.search(r"<created>false</created>.*<success>true</success>", text)
    assert field(sf.Invoice__c.describe(), "Amount__c")["type"] == "currency"


def test_a_component_the_org_does_not_have_is_refused_and_describe_stays_as_it_was(sf, md):
    with pytest.raises(Exception, match="INVALID_OPERATION.*sql/connect/objects.json"):
        md.CustomField.create([md.CustomField(fullName="Account.Loyalty__c", label="Loyalty", type="Text",
                                              length=10)])
    with pytest.raises(Exception, match="INVALID_OPERATION.*Account.Loyalty__c"):
        md.CustomField.upsert([md.CustomField(fullName="Account.Loyalty__c", label="Loyalty", type="Text",
                                              length=10)])
    with pytest.raises(Exception, match="INVALID_OPERATION.*Invoice__c.Discount__c"):
        md.CustomObject.upsert([md.CustomObject(fullName="Invoice__c", label="Invoice", pluralLabel="Invoices",
                                                deploymentStatus="Deployed", sharingModel="ReadWrite",
                                                fields=[md.CustomField(fullName="Discount__c", label="Discount",
                                                                       type="Currency", precision=18, scale=2)])])
    assert "Loyalty__c" not in {f["name"] for f in sf.Account.describe()["fields"]}
    assert md.CustomField.read(["Account.Loyalty__c"]).fullName is None


def test_list_metadata_lists_every_object_and_custom_field_describe_serves(sf, md):
    objects = md.list_metadata([md.ListMetadataQuery(type="CustomObject")])
    assert sorted(o.fullName for o in objects) == sorted(o["name"] for o in sf.describe()["sobjects"])
    invoice = next(o for o in objects if o.fullName == "Invoice__c")
    assert (invoice.type, invoice.fileName, invoice.manageableState) == ("CustomObject", "objects/Invoice__c.object",
                                                                         "unmanaged")
    assert invoice.id.startswith("01I") and len(invoice.id) == 18
    fields = md.list_metadata([md.ListMetadataQuery(type="CustomField")])
    custom = {f"{o['name']}.{f['name']}" for o in sf.describe()["sobjects"]
              for f in getattr(sf, o["name"]).describe()["fields"] if f["custom"]}
    assert {f.fullName for f in fields} == custom and all(f.id.startswith("00N") for f in fields)


def test_describe_metadata_names_the_types_the_org_serves(md):
    result = md.describe_metadata()
    (custom_object,) = result.metadataObjects
    assert (custom_object.xmlName, custom_object.childXmlNames, custom_object.directoryName, custom_object.suffix) == (
        "CustomObject", ["CustomField"], "objects", "object")
    assert result.partialSaveAllowed is True and result.testRequired is False


def test_a_type_outside_the_subset_is_a_soap_fault(md):
    with pytest.raises(Fault, match="CustomObject"):
        md.ApexClass.read(["Anything"])
    with pytest.raises(Fault, match="CustomObject"):
        md.list_metadata([md.ListMetadataQuery(type="ApexClass")])
