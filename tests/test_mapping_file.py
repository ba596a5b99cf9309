"""sql/connect/mapping.json has the shape `heroku connect:import` reads, and agrees with objects.json.

On Heroku this file is the only way the app's expectations reach Connect: a field or index
missing here is missing in production, whatever the local schema says.
"""

import json

import pytest

from core import connect

DOCUMENT = json.loads(connect.MAPPING_FILE.read_text())
OBJECTS = connect.object_definitions()
MAPPINGS = DOCUMENT["mappings"]
IDS = [m["object_name"] for m in MAPPINGS]


def _described(object_name):
    return {f["name"]: f for f in OBJECTS[object_name]["fields"]}


def test_top_level_keys_are_mappings_connection_version():
    assert set(DOCUMENT) == {"mappings", "connection", "version"}
    assert DOCUMENT["version"] == 1
    assert isinstance(DOCUMENT["mappings"], list) and isinstance(DOCUMENT["connection"], dict)


def test_connection_block_has_the_exported_fields():
    assert {"app_name", "organization_id", "exported_at", "features", "api_version", "name"} <= set(
        DOCUMENT["connection"]
    )


def test_objects_are_the_ones_the_app_needs_with_their_access():
    access = {m["object_name"]: m["config"]["access"] for m in MAPPINGS}
    assert access == {
        "Account": "read_write",  # the three churn-risk fields only (docs/scoring.md)
        "Contact": "read_write",
        "Product2": "read_only",
        "Order": "read_only",
        "OrderItem": "read_only",
        "Case": "read_write",
        "Invoice__c": "read_write",
    }


def test_core_connect_parses_the_file():
    assert set(connect.mappings()) == set(IDS)


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_every_mapped_object_is_described(mapping):
    assert mapping["object_name"] in OBJECTS


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_access_is_read_only_or_read_write(mapping):
    assert mapping["config"]["access"] in ("read_only", "read_write")


# Account is read-write without an upsert field: the app only updates accounts that have an sfid and
# never inserts one, so there is no Postgres-born row whose return Connect must match (docs/scoring.md).
INSERTING = [m for m in MAPPINGS if m["config"]["access"] == "read_write" and m["object_name"] != "Account"]


@pytest.mark.parametrize("mapping", INSERTING, ids=[m["object_name"] for m in INSERTING])
def test_read_write_mappings_upsert_on_a_unique_external_id(mapping):
    upsert = mapping["config"]["upsert_field"]
    described = _described(mapping["object_name"])[upsert]
    assert described["externalId"] and described["unique"]
    assert upsert in mapping["config"]["fields"]
    assert mapping["config"]["indexes"][upsert]["unique"] is True


@pytest.mark.parametrize("mapping", [m for m in MAPPINGS if m["config"]["access"] == "read_only"],
                         ids=[m["object_name"] for m in MAPPINGS if m["config"]["access"] == "read_only"])
def test_read_only_mappings_have_no_upsert_field(mapping):
    assert "upsert_field" not in mapping["config"]


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_every_field_is_a_described_field(mapping):
    unknown = set(mapping["config"]["fields"]) - set(_described(mapping["object_name"]))
    assert not unknown


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_every_index_names_a_mapped_described_field(mapping):
    config = mapping["config"]
    for field_name, options in config["indexes"].items():
        assert field_name in _described(mapping["object_name"]), field_name
        assert field_name in config["fields"], field_name
        assert set(options) == {"unique"} and isinstance(options["unique"], bool)


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_system_fields_are_mapped(mapping):
    assert {"Id", "IsDeleted", "SystemModstamp", "CreatedDate"} <= set(mapping["config"]["fields"])


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_id_is_a_unique_index_and_systemmodstamp_an_index(mapping):
    indexes = mapping["config"]["indexes"]
    assert indexes["Id"] == {"unique": True}
    assert indexes["SystemModstamp"] == {"unique": False}


@pytest.mark.parametrize("mapping", MAPPINGS, ids=IDS)
def test_sync_settings_are_within_the_demo_plan(mapping):
    config = mapping["config"]
    # The demo plan polls Salesforce at most every 10 minutes.
    assert config["sf_polling_seconds"] >= 600
    assert config["sf_notify_enabled"] is False
    assert config["sf_max_daily_api_calls"] > 0


def test_case_can_name_its_contact_by_external_id():
    """Contact is read-write with an upsert field, so Case gets the `contact__external_id__c` column."""
    contact = _described("Case")["ContactId"]
    assert contact["type"] == "reference" and contact["referenceTo"] == ["Contact"]
    assert connect.relationship_column(contact["relationshipName"], "External_ID__c") == "contact__external_id__c"
