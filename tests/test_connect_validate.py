"""`python manage.py connect validate`: a mapping file checked against the org's describe before connect:import."""

import copy
import json
import os
import subprocess
import sys

import psycopg
import pytest

from core import connect, connect_validate
from core.paths import ROOT


def document():
    """The app's mapping file, as a document to change."""
    return json.loads(connect.MAPPING_FILE.read_text())


def config_of(doc, object_name) -> dict:
    return next(m for m in doc["mappings"] if m["object_name"] == object_name)["config"]


def problems(sf, doc, **kwargs) -> list[str]:
    found, _ = connect_validate.validate(sf, connect.parse_mappings(doc), **kwargs)
    return [str(p) for p in found]


def run(local_org, database_url, tmp_path, doc=None):
    """The command, against the local org and the test database; with `doc`, on that mapping file."""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    for var in ("SF_USERNAME", "SF_INSTANCE_URL", "SF_SESSION_ID"):
        env.pop(var, None)
    argv = [sys.executable, "manage.py", "connect", "validate"]
    if doc is not None:
        path = tmp_path / "mapping.json"
        path.write_text(json.dumps(doc))
        argv += ["--mapping", str(path)]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_apps_mapping_is_clean_against_the_local_org(local_org, database_url, tmp_path):
    result = run(local_org, database_url, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mapping.json: 7 mapping(s) match the org; ready for `heroku connect:import`." in result.stdout
    assert "0 synced rows of the demo plan's 10,000 (Account 0, Contact 0," in result.stdout


def test_the_row_cap_is_the_configured_plans(local_org, database_url, tmp_path, monkeypatch):
    """CONNECT_PLAN=enterprise (make run's): no known cap, so a big org is not a problem; demo: 10,000."""
    assert connect_validate.row_count_problem({"Contact": 20_000}, connect.plan("enterprise").row_cap) is None
    assert connect_validate.row_count_problem({"Contact": 20_000}, connect.plan("demo").row_cap) is not None
    monkeypatch.setenv("CONNECT_PLAN", "enterprise")
    result = run(local_org, database_url, tmp_path)
    assert result.returncode == 0 and "(the enterprise plan: its cap is in your contract)" in result.stdout


def test_a_field_the_org_lacks_exits_1_naming_it(local_org, database_url, tmp_path):
    doc = document()
    config_of(doc, "Contact")["fields"]["Loyalty_Tier__c"] = {}
    result = run(local_org, database_url, tmp_path, doc)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "Contact.Loyalty_Tier__c: the org has no such field (run `python manage.py org setup`, or remove it from " \
           "the mapping)" in lines
    assert "1 problem(s): fix them before `heroku connect:import mapping.json`." in lines


def test_an_object_the_org_lacks_is_named(sf):
    doc = document()
    entry = copy.deepcopy(next(m for m in doc["mappings"] if m["object_name"] == "Invoice__c"))
    entry["object_name"] = "Shipment__c"
    doc["mappings"].append(entry)
    assert problems(sf, doc) == ["Shipment__c: the org has no such object (run `python manage.py org setup` for the "
                                 "app's custom object)"]


def test_an_upsert_field_that_is_not_an_external_id_is_named(sf):
    doc = document()
    config_of(doc, "Contact")["upsert_field"] = "Email"
    assert problems(sf, doc) == [
        "Contact.Email: the upsert field must be an external id and unique (Setup → Object Manager → the field → "
        "External ID, Unique)",
        # Case's relationship column names its Contact by the Contact mapping's upsert field.
        "Case.ContactId: the column contact__email names Contact.Email, which is not an external id in the org"]


def test_a_field_the_app_writes_that_the_integration_user_cannot_is_named(sf):
    objects = copy.deepcopy(connect.object_definitions())
    name = next(f for f in objects["Contact"]["fields"] if f["name"] == "Name")
    name.update(createable=True, updateable=True)  # the app would write Contact.Name; the org computes it
    found = connect_validate.mapping_problems(sf, connect.mappings(), objects)
    assert [str(p) for p in found] == [
        "Contact.Name: not createable by the integration user: grant it edit access (field-level security)",
        "Contact.Name: not updateable by the integration user: grant it edit access (field-level security)"]


def test_a_column_type_other_than_the_app_expects_is_named(sf):
    objects = copy.deepcopy(connect.object_definitions())
    phone = next(f for f in objects["Account"]["fields"] if f["name"] == "Phone")
    phone.update(type="string", length=20)  # what the app was built against, in this test
    found = connect_validate.mapping_problems(sf, connect.mappings(), objects)
    assert [str(p) for p in found] == [
        "Account.Phone: Connect will create the column phone as varchar(40), the app expects varchar(20) (the org's "
        "field is phone(40), sql/connect/objects.json says string(20))"]


def test_a_table_column_of_another_type_than_connect_makes_is_named(sf, conn):
    assert problems(sf, document(), conn=conn) == []  # the tables make run provisions are Connect's
    with conn.transaction() as tx:
        conn.execute("ALTER TABLE salesforce.contact ALTER COLUMN phone TYPE varchar(60)")
        found = problems(sf, document(), conn=conn)
        raise psycopg.Rollback(tx)
    assert found == ["Contact.Phone: the table salesforce.contact has phone as character varying(60); Connect makes "
                     "character varying(40) of the org's field"]


def test_a_foreign_key_from_the_app_schema_into_a_connect_table_is_named(sf, conn):
    conn.execute("CREATE TABLE app.notes_for_validate (id serial PRIMARY KEY, contact_id integer "
                 "CONSTRAINT notes_contact_fk REFERENCES salesforce.contact (id))")
    try:
        found = problems(sf, document(), conn=conn)
    finally:
        conn.execute("DROP TABLE app.notes_for_validate")
    assert found == ["app.notes_for_validate: foreign key notes_contact_fk points into the Connect table "
                     "salesforce.contact: Connect drops and recreates its tables, so keep the reference as a plain "
                     "column"]


def test_the_orgs_records_are_counted_against_the_plans_cap(sf):
    account = sf.Account.create({"Name": "Counted Co."})["id"]
    for n in range(3):
        sf.Contact.create({"LastName": f"Counted {n}", "AccountId": account})
    found, counts = connect_validate.validate(sf, connect.mappings(), cap=3)
    assert (counts["Account"], counts["Contact"], sum(counts.values())) == (1, 3, 4)
    assert [str(p) for p in found] == ["Contact: the mapped objects hold 4 records together, over the plan's cap of "
                                       "3 synced rows (Contact alone: 3)"]


@pytest.mark.parametrize("text", ["{}", "not json"])
def test_a_file_that_is_not_a_mapping_file_exits_1(local_org, database_url, tmp_path, text):
    path = tmp_path / "mapping.json"
    path.write_text(text)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    result = subprocess.run([sys.executable, "manage.py", "connect", "validate", "--mapping", str(path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "not a mapping file Connect imports" in result.stdout
