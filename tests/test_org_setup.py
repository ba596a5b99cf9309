"""`python manage.py org setup`: the custom object and fields the mapping needs, through the Metadata API."""

import os
import subprocess
import sys

import pytest

from core import org_setup
from core.paths import ROOT
from core.salesforce import metadata


def components():
    """What setup would create in an org that lacks everything, by full name."""
    custom_objects, fields = org_setup.required_metadata()
    return {c["fullName"]: c for c in custom_objects + fields}


def test_setup_asks_for_the_custom_object_and_every_custom_field_the_mapping_needs():
    custom_objects, fields = org_setup.required_metadata()
    assert [c["fullName"] for c in custom_objects] == ["Invoice__c"]
    assert {"Contact.External_ID__c", "Case.External_ID__c", "Case.Order__c", "Invoice__c.Account__c",
            "Invoice__c.External_ID__c"} <= {f["fullName"] for f in fields}


def test_components_have_the_shapes_connect_needs():
    wanted = components()
    upsert_field = wanted["Contact.External_ID__c"]
    assert (upsert_field["type"], upsert_field["externalId"], upsert_field["unique"], upsert_field["length"]) == (
        "Text", True, True, 36)
    lookup = wanted["Case.Order__c"]
    assert (lookup["type"], lookup["referenceTo"]) == ("Lookup", "Order")
    status = wanted["Invoice__c.Status__c"]
    assert [v["fullName"] for v in status["valueSet"]["valueSetDefinition"]["value"]] == [
        "Draft", "Issued", "Paid", "Void"]
    invoice = wanted["Invoice__c"]
    assert (invoice["label"], invoice["pluralLabel"], invoice["deploymentStatus"]) == ("Invoice", "Invoices",
                                                                                       "Deployed")


def test_against_the_local_org_setup_finds_everything_already_there(local_org):
    lines = []
    assert org_setup.setup(local_org.salesforce(), echo=lines.append) == org_setup.Changes()
    assert sorted(line.split()[1] for line in lines) == sorted(components())
    assert all(line.split()[0] == "exists" for line in lines)


def test_what_setup_would_create_is_what_the_local_org_reads_back(local_org):
    md = metadata(local_org.salesforce())
    custom_objects, fields = org_setup.required_metadata()
    for md_type, wanted in ((md.CustomObject, custom_objects), (md.CustomField, fields)):
        for component in wanted:
            read = md_type.read([component["fullName"]])
            # Nested components aside (nameField, valueSet), every key agrees, a lookup's relationshipName
            # (the parent's child relationship) and deleteConstraint (Restrict when required) included.
            for key in set(component) - {"nameField", "valueSet"}:
                assert getattr(read, key) == component[key], (component["fullName"], key)


def test_dry_run_lists_everything_as_existing_and_changes_nothing(local_org):
    lines = []
    assert org_setup.setup(local_org.salesforce(), dry_run=True, echo=lines.append) == org_setup.Changes()
    assert lines and not any(line.split()[0] == "missing" for line in lines)


def test_the_command_runs_against_the_org_in_the_environment(local_org, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    for _ in range(2):  # twice: safe to rerun
        result = subprocess.run([sys.executable, "manage.py", "org", "setup"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "exists   Invoice__c" in result.stdout
        assert "nothing to create: the org already has everything sql/connect/mapping.json maps." in result.stdout


def change_in_org(sf, kind, full_name, **changed):
    """Make the org's component differ from its definition, as an admin editing it in Setup would."""
    md = metadata(sf)
    md_type = getattr(md, kind)
    md_type.update([md_type(**{**components()[full_name], **changed})])
    return md_type


def test_a_component_that_differs_is_shown_and_left_alone_unless_confirmed(local_org):
    sf = local_org.salesforce()
    md_type = change_in_org(sf, "CustomField", "Contact.External_ID__c", length=20)
    assert md_type.read(["Contact.External_ID__c"]).length == 20
    lines, asked = [], []
    changes = org_setup.setup(sf, confirm=lambda differing: asked.append(differing) or False, echo=lines.append)
    assert changes.differing == {"Contact.External_ID__c": [("length", 20, 36)]} == asked[0]
    assert (changes.created, changes.updated) == ([], [])
    assert "  differs  Contact.External_ID__c" in lines
    assert "             length: 20 in the org, 36 in sql/connect/objects.json" in lines
    assert md_type.read(["Contact.External_ID__c"]).length == 20

    changes = org_setup.setup(sf, confirm=lambda differing: True, echo=lambda *_: None)
    assert changes.updated == ["Contact.External_ID__c"]
    assert md_type.read(["Contact.External_ID__c"]).length == 36
    assert org_setup.setup(sf, confirm=lambda differing: True, echo=lambda *_: None) == org_setup.Changes()


def test_a_missing_picklist_value_is_a_difference(local_org):
    sf = local_org.salesforce()
    status = components()["Invoice__c.Status__c"]
    values = status["valueSet"]["valueSetDefinition"]["value"][:3]
    change_in_org(sf, "CustomField", "Invoice__c.Status__c",
                  valueSet={**status["valueSet"], "valueSetDefinition": {"sorted": False, "value": values}})
    changes = org_setup.setup(sf, echo=lambda *_: None)
    assert changes.differing == {"Invoice__c.Status__c": [
        ("valueSet.valueSetDefinition.value", ["Draft", "Issued", "Paid"], ["Draft", "Issued", "Paid", "Void"])]}


def test_the_command_updates_a_lookup_to_the_delete_constraint_its_describe_calls_for(local_org, database_url):
    sf = local_org.salesforce()
    # Invoice__c.Account__c is required (nillable false in the describe data): Salesforce needs Restrict.
    md_type = change_in_org(sf, "CustomField", "Invoice__c.Account__c", deleteConstraint="SetNull")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    refused = subprocess.run([sys.executable, "manage.py", "org", "setup"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1, refused.stderr
    assert "deleteConstraint: 'SetNull' in the org, 'Restrict' in sql/connect/objects.json" in refused.stdout
    assert "1 component(s) differ from sql/connect/objects.json and were not updated: rerun with --yes" in \
        refused.stdout
    assert md_type.read(["Invoice__c.Account__c"]).deleteConstraint == "SetNull"
    done = subprocess.run([sys.executable, "manage.py", "org", "setup", "--yes"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "updated 1 component(s): Invoice__c.Account__c." in done.stdout
    assert md_type.read(["Invoice__c.Account__c"]).deleteConstraint == "Restrict"


def test_updating_a_component_the_org_lacks_is_refused(local_org):
    md = metadata(local_org.salesforce())
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY.*no CustomField named Contact.Nickname__c found"):
        md.CustomField.update([md.CustomField(fullName="Contact.Nickname__c", label="Nickname", type="Text",
                                              length=40)])
