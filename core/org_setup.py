"""Create in an org the custom object and fields the mapping needs (`python manage.py org setup`).

Heroku Connect can only map what exists in Salesforce. The mapping file names `Invoice__c` and its
fields, the `External_ID__c` upsert fields on Contact and Case, and the `Case.Order__c` lookup;
this command creates whichever of them the org lacks, through the Metadata API (simple-salesforce's
`mdapi`, a SOAP client). It reads first and creates only what is missing, so it is safe to rerun.
A component that exists but differs from its definition (a shorter text field, a lookup whose delete
constraint is not the one its required-ness calls for, a missing picklist value) is shown as a diff
and updated only when confirmed. The definitions come from sql/connect/objects.json, the same file
the local schema is built from.
"""

from dataclasses import dataclass, field

from zeep.helpers import serialize_object

from core import connect
from core import salesforce as org_client

# describe type → Metadata API CustomField type
_FIELD_TYPES = {"string": "Text", "currency": "Currency", "double": "Number", "int": "Number", "date": "Date",
                "datetime": "DateTime", "picklist": "Picklist", "reference": "Lookup", "boolean": "Checkbox",
                "email": "Email", "phone": "Phone", "url": "Url", "textarea": "LongTextArea", "percent": "Percent"}
BATCH = 10  # the Metadata API takes at most 10 components per call


def custom_object(definition: dict) -> dict:
    """The CustomObject for a custom object's describe."""
    name_field = next(f for f in definition["fields"] if f["name"] == "Name")
    return {"fullName": definition["name"], "label": definition["label"], "pluralLabel": definition["labelPlural"],
            "nameField": {"type": "Text", "label": name_field["label"]},
            "deploymentStatus": "Deployed", "sharingModel": "ReadWrite"}


def custom_field(object_name: str, f: dict) -> dict:
    """The CustomField for a custom field's describe."""
    kind = _FIELD_TYPES[f["type"]]
    field = {"fullName": f"{object_name}.{f['name']}", "label": f["label"], "type": kind}
    if kind == "Text":
        field.update(length=f["length"], externalId=f["externalId"], unique=f["unique"])
    elif kind in ("Currency", "Number", "Percent"):
        field.update(precision=f["precision"] or 18, scale=f["scale"])
    elif kind == "Lookup":
        # The Metadata API's relationshipName is the child relationship's name on the parent (`Invoices`
        # for Account.Invoices__r), not the lookup's own (`Account__r`). A required lookup cannot be
        # cleared when its parent is deleted, so Salesforce needs Restrict for it.
        required = not f["nillable"]
        field.update(referenceTo=f["referenceTo"][0], relationshipName=child_relationship_name(object_name, f),
                     relationshipLabel=definition_label(object_name), required=required,
                     deleteConstraint="Restrict" if required else "SetNull")
    elif kind == "Picklist":
        field["valueSet"] = {"restricted": True, "valueSetDefinition": {"sorted": False, "value": [
            {"fullName": p["value"], "label": p["label"], "default": False} for p in f["picklistValues"]]}}
    elif kind == "Checkbox":
        field["defaultValue"] = "false"
    elif kind == "LongTextArea":
        field.update(length=f["length"], visibleLines=3)
    return field


def child_relationship_name(object_name: str, f: dict) -> str:
    """What the parent calls the lookup's records (describe's childRelationships), without `__r`."""
    parent = connect.object_definitions()[f["referenceTo"][0]]
    for rel in parent.get("childRelationships", []):
        if rel["childSObject"] == object_name and rel["field"] == f["name"] and rel["relationshipName"]:
            return rel["relationshipName"].removesuffix("__r")
    return definition_label(object_name).replace(" ", "_")


def definition_label(object_name: str) -> str:
    """The plural label of an object, for a lookup's related list."""
    return connect.object_definitions()[object_name]["labelPlural"]


def required_metadata(mappings=None, objects=None) -> tuple[list[dict], list[dict]]:
    """The custom objects and custom fields the mappings need, from the object definitions."""
    mappings = connect.mappings() if mappings is None else mappings
    objects = connect.object_definitions() if objects is None else objects
    custom_objects, fields = [], []
    for mapping in mappings.values():
        definition = objects[mapping.object_name]
        if definition["custom"]:
            custom_objects.append(custom_object(definition))
        for f in definition["fields"]:
            if f["custom"] and f["name"] in mapping.fields:
                fields.append(custom_field(mapping.object_name, f))
    return custom_objects, fields


def _current(md_type, names) -> dict[str, dict]:
    """The org's components of a type among `names`, by full name, as plain dicts."""
    found = {}
    for start in range(0, len(names), BATCH):
        records = md_type.read(names[start:start + BATCH])
        for record in records if isinstance(records, list) else [records]:
            if record is not None and getattr(record, "fullName", None):
                found[record.fullName] = serialize_object(record, dict)
    return found


def _same(wanted, have) -> bool:
    """Whether the org's value says what the definition says (the Metadata API answers text, numbers, booleans)."""
    if isinstance(wanted, bool):
        return str(have).lower() == str(wanted).lower() or (not wanted and have in (None, ""))
    if have is None:
        return wanted in (None, "")
    return str(wanted) == str(have)


def _brief(value):
    """A list of components by their full names, for a diff line."""
    if isinstance(value, list):
        return [v.get("fullName", v) if isinstance(v, dict) else v for v in value]
    return value


def differences(wanted: dict, current, path: str = "") -> list[tuple[str, object, object]]:
    """(key, the org's value, the definition's value) for every key of the definition the org disagrees on."""
    out = []
    for key, value in wanted.items():
        where = f"{path}.{key}" if path else key
        have = current.get(key) if isinstance(current, dict) else None
        if isinstance(value, dict):
            out += differences(value, have or {}, where)
        elif isinstance(value, list):
            have = have if isinstance(have, list) else ([] if have is None else [have])
            if len(have) != len(value):
                out.append((where, _brief(have), _brief(value)))
                continue
            for i, (w, h) in enumerate(zip(value, have, strict=True)):
                if isinstance(w, dict):
                    out += differences(w, h, f"{where}[{i}]")
                elif not _same(w, h):
                    out.append((f"{where}[{i}]", h, w))
        elif not _same(value, have):
            out.append((where, have, value))
    return out


@dataclass
class Changes:
    """What setup found: components created (or missing, in a dry run), differing, and updated."""

    created: list[str] = field(default_factory=list)
    differing: dict[str, list] = field(default_factory=dict)
    updated: list[str] = field(default_factory=list)


def setup(sf, *, dry_run: bool = False, confirm=lambda differing: False, echo=print) -> Changes:
    """Create what the org lacks; show what differs and update it when `confirm(differing)` says so.

    `confirm` gets the differing components (full name → differences) and returns whether to update
    them; a dry run neither creates nor asks.
    """
    md = org_client.metadata(sf)
    custom_objects, fields = required_metadata()
    changes = Changes()
    plans = []
    for md_type, wanted in ((md.CustomObject, custom_objects), (md.CustomField, fields)):
        current = _current(md_type, [w["fullName"] for w in wanted])
        missing = [w for w in wanted if w["fullName"] not in current]
        differing = [w for w in wanted if w["fullName"] in current and differences(w, current[w["fullName"]])]
        for w in wanted:
            name = w["fullName"]
            diff = differences(w, current[name]) if name in current else None
            state = ("missing" if dry_run else "create ") if diff is None else "differs" if diff else "exists "
            echo(f"  {state}  {name}")
            for key, have, want in diff or []:
                echo(f"             {key}: {have!r} in the org, {want!r} in sql/connect/objects.json")
            if diff:
                changes.differing[name] = diff
        if not dry_run:
            for start in range(0, len(missing), BATCH):
                md_type.create([md_type(**w) for w in missing[start:start + BATCH]])
        changes.created += [w["fullName"] for w in missing]
        plans.append((md_type, differing))
    if changes.differing and not dry_run and confirm(changes.differing):
        for md_type, differing in plans:
            for start in range(0, len(differing), BATCH):
                md_type.update([md_type(**w) for w in differing[start:start + BATCH]])
            changes.updated += [w["fullName"] for w in differing]
    return changes
