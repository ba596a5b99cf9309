"""`python manage.py org setup`: the custom object and fields the mapping needs, through the Metadata API."""

import json
import os
import subprocess
import sys

from core import db, org_setup
from core.paths import ROOT


def deployed(database_url, kind, name):
    with db.connect(database_url) as c:
        row = c.execute("SELECT value FROM local_org.settings WHERE key = %s", (f"metadata:{kind}:{name}",)).fetchone()
    return json.loads(row["value"]) if row else None


def test_setup_creates_what_the_mapping_needs_then_nothing_on_a_rerun(local_org, database_url):
    sf = local_org.salesforce()
    created = org_setup.setup(sf, echo=lambda *_: None)
    assert created[0] == "Invoice__c"
    assert {"Contact.External_ID__c", "Case.External_ID__c", "Case.Order__c", "Invoice__c.Account__c",
            "Invoice__c.External_ID__c"} <= set(created)
    assert org_setup.setup(sf, echo=lambda *_: None) == []


def test_components_have_the_shapes_connect_needs(local_org, database_url):
    org_setup.setup(local_org.salesforce(), echo=lambda *_: None)
    upsert_field = deployed(database_url, "CustomField", "Contact.External_ID__c")
    assert (upsert_field["type"], upsert_field["externalId"], upsert_field["unique"], upsert_field["length"]) == (
        "Text", "true", "true", "36")
    lookup = deployed(database_url, "CustomField", "Case.Order__c")
    assert (lookup["type"], lookup["referenceTo"], lookup["relationshipName"]) == ("Lookup", "Order", "Order")
    status = deployed(database_url, "CustomField", "Invoice__c.Status__c")
    assert [v["fullName"] for v in status["valueSet"]["valueSetDefinition"]["value"]] == [
        "Draft", "Issued", "Paid", "Void"]
    invoice = deployed(database_url, "CustomObject", "Invoice__c")
    assert (invoice["label"], invoice["pluralLabel"], invoice["deploymentStatus"]) == ("Invoice", "Invoices",
                                                                                       "Deployed")


def test_dry_run_lists_what_is_missing_and_changes_nothing(local_org, database_url):
    lines = []
    would = org_setup.setup(local_org.salesforce(), dry_run=True, echo=lines.append)
    assert "Invoice__c" in would and any(line.strip().startswith("missing") for line in lines)
    assert deployed(database_url, "CustomObject", "Invoice__c") is None


def test_the_command_runs_against_the_org_in_the_environment(local_org, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    for arg in ([], []):  # twice: safe to rerun
        result = subprocess.run([sys.executable, "manage.py", "org", "setup", *arg], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert "created 0 component(s)" in result.stdout and "exists   Invoice__c" in result.stdout
