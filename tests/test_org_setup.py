"""`python manage.py org setup`: the custom object and fields the mapping needs, through the Metadata API."""

import os
import subprocess
import sys

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
    assert org_setup.setup(local_org.salesforce(), echo=lines.append) == []
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
    assert org_setup.setup(local_org.salesforce(), dry_run=True, echo=lines.append) == []
    assert lines and not any(line.split()[0] == "missing" for line in lines)


def test_the_command_runs_against_the_org_in_the_environment(local_org, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    for _ in range(2):  # twice: safe to rerun
        result = subprocess.run([sys.executable, "manage.py", "org", "setup"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "exists   Invoice__c" in result.stdout
        assert "nothing to create: the org already has everything sql/connect/mapping.json maps." in result.stdout
