"""What the org says about the mapped objects, and the local Connect schema built from it.

Connect reads each mapped object's describe when a mapping is created or reloaded and builds the
table from it; the engine does the same: one describe call per mapping at start-up, then
`standins.provision.provision` with those definitions instead of sql/connect/objects.json.
"""

from dataclasses import dataclass

from core import connect
from standins.provision import provision


@dataclass(frozen=True)
class Relationship:
    """An external-id relationship column: `contact__external_id__c` names a Contact by External_ID__c."""

    column: str  # contact__external_id__c
    lookup_column: str  # contactid
    relationship: str  # Contact
    parent_field: str  # External_ID__c


@dataclass(frozen=True)
class Target:
    """A mapping joined with its object's describe: everything the engine needs to move rows."""

    mapping: connect.Mapping
    fields: dict  # field name → describe entry, mapped fields only
    relationships: tuple[Relationship, ...]

    @property
    def object_name(self) -> str:
        return self.mapping.object_name

    @property
    def table(self) -> str:
        return self.mapping.table

    def column_fields(self) -> dict[str, dict]:
        """Column → describe entry for the mapped, non-system fields."""
        return {connect.column_name(n): f for n, f in self.fields.items() if n not in connect.SYSTEM_FIELDS}


def describe_all(sf, mappings: dict) -> dict[str, dict]:
    """The org's describe of every mapped object (one API call each), in objects.json's shape."""
    return {name: sf.restful(f"sobjects/{name}/describe") for name in mappings}


def targets(mappings: dict, objects: dict) -> dict[str, Target]:
    """A Target per mapping, by object name."""
    result = {}
    for name, mapping in mappings.items():
        described = {f["name"]: f for f in objects[name]["fields"]}
        missing = [f for f in mapping.fields if f not in described]
        if missing:
            raise ValueError(f"{name}: mapped fields the org does not have: {', '.join(missing)}")
        relationships = []
        if mapping.read_write:
            for field_name in mapping.fields:
                f = described[field_name]
                if f["type"] != "reference":
                    continue
                for parent_name in f["referenceTo"]:
                    parent = mappings.get(parent_name)
                    if parent and parent.upsert_field:
                        relationships.append(Relationship(
                            connect.relationship_column(f["relationshipName"], parent.upsert_field),
                            connect.column_name(field_name), f["relationshipName"], parent.upsert_field))
        result[name] = Target(mapping, {n: described[n] for n in mapping.fields}, tuple(relationships))
    return result


def provision_from_org(conn, schema: str, mappings: dict, objects: dict, log=print) -> list[str]:
    """Create or update the Connect schema from the org's describe plus the mapping file, as Connect does."""
    return provision(conn, schema, mappings=mappings, objects=objects, log=log)
