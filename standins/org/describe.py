"""What the org knows of its objects and fields: the describe data every API answers from.

The objects are the same definitions the local Connect schema is built from (sql/connect/objects.json),
so describe, SOQL, writes and the mapped tables always agree. Names are case-insensitive everywhere,
as in Salesforce: `canonical_object` and `field_of` turn any spelling into the API name.
"""

from core import connect
from standins.org.errors import SalesforceError


def objects() -> dict:
    """The org's objects: the same definitions the local Connect schema is built from."""
    return connect.object_definitions()


def describe(name: str) -> dict:
    """An object's describe, or NOT_FOUND."""
    canonical = canonical_object(name)
    return objects()[canonical]


def canonical_object(name: str) -> str:
    """The object's API name whatever the case it was given in; NOT_FOUND / INVALID_TYPE otherwise."""
    for key in objects():
        if key.lower() == (name or "").lower():
            return key
    raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")


def fields_by_lower(obj: str) -> dict:
    """Field API names by lowercased name."""
    return {f["name"].lower(): f for f in describe(obj)["fields"]}


def field_of(obj: str, name: str) -> dict:
    """One field's describe entry, or INVALID_FIELD."""
    f = fields_by_lower(obj).get(name.lower())
    if f is None:
        raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj}'. If you are attempting "
                              "to use a custom field, be sure to append the '__c' after the custom field name.", [name])
    return f


def key_prefix_object(record_id: str) -> str | None:
    """Which object an Id belongs to, by its key prefix."""
    for name, o in objects().items():
        if record_id[:3] == o["keyPrefix"]:
            return name
    return None


def child_relationships(obj: str) -> list[dict]:
    """The object's child relationships as describe lists them (childSObject, field, relationshipName, …)."""
    return describe(obj).get("childRelationships", [])


def child_relationship(obj: str, name: str) -> dict | None:
    """The child relationship a subquery names (`Contacts` on Account), whatever its case."""
    for rel in child_relationships(obj):
        if (rel["relationshipName"] or "").lower() == name.lower():
            return rel
    return None
