"""What the org knows of its objects and fields: the describe data every API answers from.

Two compact sources: the mapped objects are the same definitions the local Connect schema is built
from (sql/connect/objects.json, also the Connect contract, so it stays a subset), and the standard
objects every org has but the app does not map (User, Organization, Profile, RecordType, Pricebook2,
PricebookEntry, and the file objects ContentDocument, ContentVersion, Attachment) are in
standins/org/standard_objects.json. `objects()` adds the audit fields every
object has (CreatedById, LastModifiedDate, …; OwnerId on owned objects) and derives every other key
Salesforce's describe returns from each field's type, so tools that build forms, queries or types
from describe (the Salesforce CLI, jsforce, ORMs) find the keys and values they expect.
Names are case-insensitive everywhere, as in Salesforce: `canonical_object` and `field_of` turn any
spelling into the API name.
"""

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from core import connect
from standins.org.errors import SalesforceError
from standins.org.ids import salesforce_id

STANDARD_OBJECTS_FILE = Path(__file__).with_name("standard_objects.json")
# Every object that has record types has the Master one, whose Id is the same in every org.
MASTER_RECORD_TYPE_ID = "012000000000000AAA"

# What Salesforce's describe says of the mapped objects beyond objects.json's subset. `owned`: the
# object has OwnerId; `recordTypes`: it can have record types (so describe lists the Master one).
MAPPED_OBJECT_FACTS = {
    "Account": {"owned": True, "mergeable": True},
    "Contact": {"owned": True, "mergeable": True},
    "Case": {"owned": True},
    "Order": {"owned": True},
    "Invoice__c": {"owned": True},
    "Product2": {},
    "OrderItem": {"recordTypes": False, "mruEnabled": False},
}
OBJECT_DEFAULTS = {"activateable": False, "compactLayoutable": True, "customSetting": False,
                   "deprecatedAndHidden": False, "layoutable": True, "mergeable": False, "mruEnabled": True,
                   "replicateable": True, "retrieveable": True, "searchable": True, "triggerable": True,
                   "owned": False, "recordTypes": True}

# A compact field leaves out what most fields share.
FIELD_DEFAULTS = {"length": 0, "precision": 0, "scale": 0, "digits": 0, "nillable": True, "createable": True,
                  "updateable": True, "externalId": False, "unique": False, "referenceTo": [],
                  "relationshipName": None, "calculated": False, "autoNumber": False, "defaultedOnCreate": False,
                  "picklistValues": [], "custom": False}
_READ_ONLY = {"nillable": False, "createable": False, "updateable": False, "defaultedOnCreate": True}
_USER_REFERENCE = {"type": "reference", "length": 18, "referenceTo": ["User"]}
# The audit fields every object has, in the order describe lists them (Id and IsDeleted first, the
# rest last); OwnerId only on owned objects, IsDeleted only where records can be deleted.
AUDIT_FIELDS = {
    "Id": {"label": "Record ID", "type": "id", "length": 18, **_READ_ONLY},
    "IsDeleted": {"label": "Deleted", "type": "boolean", **_READ_ONLY},
    "OwnerId": {"label": "Owner ID", **_USER_REFERENCE, "relationshipName": "Owner", "nillable": False,
                "defaultedOnCreate": True},
    "CreatedDate": {"label": "Created Date", "type": "datetime", **_READ_ONLY},
    "CreatedById": {"label": "Created By ID", **_USER_REFERENCE, "relationshipName": "CreatedBy", **_READ_ONLY},
    "LastModifiedDate": {"label": "Last Modified Date", "type": "datetime", **_READ_ONLY},
    "LastModifiedById": {"label": "Last Modified By ID", **_USER_REFERENCE, "relationshipName": "LastModifiedBy",
                         **_READ_ONLY},
    "SystemModstamp": {"label": "System Modstamp", "type": "datetime", **_READ_ONLY},
}
_LEADING = ("Id", "IsDeleted")

_TEXT = {"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox", "encryptedstring"}
SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
              "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "long": "xsd:long",
              "date": "xsd:date", "datetime": "xsd:dateTime", "time": "xsd:time", "base64": "xsd:base64Binary",
              "address": "urn:address", "location": "urn:location", "anyType": "xsd:anyType"}
# Types SOQL cannot GROUP BY (formula fields and long text cannot either).
_NOT_GROUPABLE = {"double", "currency", "percent", "datetime", "multipicklist", "time", "base64", "address",
                  "location"}


# ---- building the describe ------------------------------------------------------------------------

def _documents() -> tuple[list[dict], dict]:
    """The compact object definitions (mapped, then standard) and the shared picklists."""
    mapped = [{**OBJECT_DEFAULTS, **MAPPED_OBJECT_FACTS.get(name, {}), **copy.deepcopy(o)}
              for name, o in connect.object_definitions().items()]
    document = json.loads(STANDARD_OBJECTS_FILE.read_text())
    standard = [{**OBJECT_DEFAULTS, **o} for o in document["sobjects"]]
    return mapped + standard, document["picklists"]


def _with_audit_fields(o: dict) -> list[dict]:
    """The object's fields, each with the compact defaults, plus the audit fields it lacks."""
    own = {f["name"]: {**FIELD_DEFAULTS, **f} for f in o["fields"]}
    wanted = [n for n in AUDIT_FIELDS if (n != "OwnerId" or o["owned"]) and (n != "IsDeleted" or o["deletable"])]
    audit = {n: own.pop(n, {**FIELD_DEFAULTS, "name": n, **AUDIT_FIELDS[n]}) for n in wanted}
    return ([audit[n] for n in _LEADING if n in audit] + list(own.values())
            + [f for n, f in audit.items() if n not in _LEADING])


def _picklist(f: dict, picklists: dict) -> list[dict]:
    values = picklists[f["picklist"]] if "picklist" in f else f["picklistValues"]
    entries = [{"value": v, "label": v, "active": True, "defaultValue": False} if isinstance(v, str) else v
               for v in values]
    return [{"active": e["active"], "defaultValue": e["defaultValue"], "label": e["label"], "validFor": None,
             "value": e["value"]} for e in entries]


def _name_field(fields: list[dict]) -> str | None:
    """The field a record is known by: one marked so (ContentVersion.Title), Name, or the auto-number (CaseNumber)."""
    marked = next((f["name"] for f in fields if f.get("nameField")), None)
    if marked:
        return marked
    names = [f["name"] for f in fields]
    if "Name" in names:
        return "Name"
    return next((f["name"] for f in fields if f["autoNumber"]), None)


def _field(o: dict, f: dict, picklists: dict, cascades: set) -> dict:
    """One field's full describe entry, derived from its compact definition and its type."""
    kind, length = f["type"], f["length"]
    long_text = kind == "textarea" and length > 255
    # Long text and blobs (base64) can be selected but not filtered, sorted or grouped by.
    unfilterable = long_text or kind == "base64"
    person = {"FirstName", "LastName"} <= {x["name"] for x in o["fields"]}
    values = _picklist(f, picklists)
    default = f.get("defaultValue", False if kind == "boolean" else None)
    return {
        "aggregatable": not unfilterable and kind not in ("boolean", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": f["autoNumber"],
        "byteLength": 3 * length if kind in _TEXT else (18 if kind in ("id", "reference") else 0),
        "calculated": f["calculated"],
        "calculatedFormula": None,
        "cascadeDelete": (o["name"], f["name"]) in cascades,
        "caseSensitive": False,
        "compoundFieldName": "Name" if person and f["name"] in ("FirstName", "LastName") else None,
        "controllerName": None,
        "createable": f["createable"],
        "custom": f["custom"],
        "defaultValue": default,
        "defaultValueFormula": None,
        "defaultedOnCreate": f["defaultedOnCreate"],
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f["digits"] or (9 if kind == "int" else 0),
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f["externalId"],
        "extraTypeInfo": ("plaintextarea" if kind == "textarea" else
                          "personname" if person and f["name"] == "Name" else None),
        "filterable": not unfilterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": not unfilterable and not f["calculated"] and kind not in _NOT_GROUPABLE,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.get("idLookup", kind == "id" or f["externalId"] or f["autoNumber"]),
        "inlineHelpText": None,
        "label": f["label"],
        "length": length,
        "mask": None,
        "maskType": None,
        "name": f["name"],
        "nameField": f["name"] == _name_field(o["fields"]),
        "namePointing": False,
        "nillable": f["nillable"],
        "permissionable": f["nillable"] and f["name"] not in AUDIT_FIELDS,
        "picklistValues": values,
        "polymorphicForeignKey": len(f["referenceTo"]) > 1,
        "precision": f["precision"],
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f["referenceTo"]),
        "relationshipName": f["relationshipName"],
        "relationshipOrder": None,
        "restrictedDelete": False,
        # The org refuses any value outside a picklist's values (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST).
        "restrictedPicklist": kind == "picklist" and bool(values),
        "scale": f["scale"],
        "searchPrefilterable": kind == "reference",
        "soapType": SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": not unfilterable and kind != "multipicklist",
        "type": kind,
        "unique": f["unique"],
        "updateable": f["updateable"],
        "writeRequiresMasterRead": False,
    }


def _child_relationship(child: str, field: str, name, cascade=False, restricted=False) -> dict:
    return {"cascadeDelete": cascade, "childSObject": child, "deprecatedAndHidden": False, "field": field,
            "junctionIdListNames": [], "junctionReferenceTo": [], "relationshipName": name,
            "restrictedDelete": restricted}


def _child_relationships(definitions: list[dict]) -> dict[str, list[dict]]:
    """Each object's child relationships: those objects.json names, then every other lookup that points at it."""
    out = {o["name"]: [_child_relationship(r["childSObject"], r["field"], r["relationshipName"],
                                           r.get("cascadeDelete", False), r.get("restrictedDelete", False))
                       for r in o.get("childRelationships", [])] for o in definitions}
    for child in definitions:
        for f in child["fields"]:
            for parent in f["referenceTo"] if f["type"] == "reference" else []:
                listed = {(r["childSObject"], r["field"]) for r in out.get(parent, [])}
                if parent in out and (child["name"], f["name"]) not in listed:
                    out[parent].append(_child_relationship(child["name"], f["name"], f.get("childRelationshipName"),
                                                           f.get("cascadeDelete", False)))
    return out


def _supported_scopes(o: dict) -> list[dict]:
    plural = o["labelPlural"].lower()
    scopes = [{"label": f"All {plural}", "name": "everything"}]
    return scopes + ([{"label": f"My {plural}", "name": "mine"}] if o["owned"] else [])


def _object(o: dict, fields: list[dict], children: list[dict]) -> dict:
    """One object's full describe, but for the URLs (they name the API version a request used)."""
    master = {"active": True, "available": True, "defaultRecordTypeMapping": True, "developerName": "Master",
              "master": True, "name": "Master", "recordTypeId": MASTER_RECORD_TYPE_ID}
    return {
        "actionOverrides": [], "activateable": o["activateable"], "associateEntityType": None,
        "associateParentEntity": None, "childRelationships": children, "compactLayoutable": o["compactLayoutable"],
        "createable": o["createable"], "custom": o["custom"], "customSetting": o["customSetting"],
        "deepCloneable": False, "defaultImplementation": None, "deletable": o["deletable"],
        "deprecatedAndHidden": o["deprecatedAndHidden"], "extendedBy": None, "extendsInterfaces": None,
        "feedEnabled": o.get("feedEnabled", not o["custom"]), "fields": fields, "hasSubtypes": False,
        "implementedBy": None, "implementsInterfaces": None, "isInterface": False, "isSubtype": False,
        "keyPrefix": o["keyPrefix"], "label": o["label"], "labelPlural": o["labelPlural"],
        "layoutable": o["layoutable"], "listviewable": None, "lookupLayoutable": None, "mergeable": o["mergeable"],
        "mruEnabled": o["mruEnabled"], "name": o["name"], "namedLayoutInfos": [], "networkScopeFieldName": None,
        "queryable": o["queryable"], "recordTypeInfos": [master] if o["recordTypes"] else [],
        "replicateable": o["replicateable"], "retrieveable": o["retrieveable"],
        "searchLayoutable": o["searchable"], "searchable": o["searchable"], "sobjectDescribeOption": "FULL",
        "supportedScopes": _supported_scopes(o), "triggerable": o["triggerable"],
        "undeletable": o.get("undeletable", o["deletable"]), "updateable": o["updateable"],
    }


def build(definitions: list[dict], picklists: dict, *, audit_fields: bool = True) -> dict:
    """Full describes, by name, of compact object definitions: the org's objects, or the Tooling API's.

    `audit_fields=False` leaves out the audit fields every data object has (the Tooling API's
    objects describe only the fields their definitions list).
    """
    definitions = [{**OBJECT_DEFAULTS, **o} for o in definitions]
    for o in definitions:
        o["fields"] = (_with_audit_fields(o) if audit_fields
                       else [{**FIELD_DEFAULTS, **f} for f in o["fields"]])
    children = _child_relationships(definitions)
    cascades = {(r["childSObject"], r["field"]) for rels in children.values() for r in rels if r["cascadeDelete"]}
    return {o["name"]: _object(o, [_field(o, f, picklists, cascades) for f in o["fields"]], children[o["name"]])
            for o in definitions}


@cache
def objects() -> dict:
    """The org's objects by name: each one's full describe (mapped objects first, then the standard ones)."""
    definitions, picklists = _documents()
    picklists = {**picklists, "recordTypeObjects": sorted(o["name"] for o in definitions if o["recordTypes"])}
    return build(definitions, picklists)


# ---- what the API answers ---------------------------------------------------------------------------

GLOBAL_KEYS = ("activateable", "associateEntityType", "associateParentEntity", "createable", "custom",
               "customSetting", "deepCloneable", "deletable", "deprecatedAndHidden", "feedEnabled", "hasSubtypes",
               "isInterface", "isSubtype", "keyPrefix", "label", "labelPlural", "layoutable", "mergeable",
               "mruEnabled", "name", "queryable", "replicateable", "retrieveable", "searchable", "triggerable",
               "undeletable", "updateable")


def urls(name: str, version: str) -> dict:
    """The resources describeGlobal and sobjects/<Type>/ list for an object."""
    o = describe(name)
    base = f"/services/data/v{version}/sobjects/{o['name']}"
    out = {"rowTemplate": base + "/{ID}", "describe": base + "/describe", "sobject": base}
    if o["layoutable"]:
        out.update(compactLayouts=base + "/describe/compactLayouts", layouts=base + "/describe/layouts",
                   approvalLayouts=base + "/describe/approvalLayouts", listviews=base + "/listviews",
                   quickActions=base + "/quickActions")
    if o["layoutable"] and o["createable"]:
        out["defaultValues"] = base + "/defaultValues?recordTypeId&fields"
    return dict(sorted(out.items()))


def basic_info(name: str, version: str) -> dict:
    """An object as describeGlobal and `sobjects/<Type>/` list it."""
    o = describe(name)
    return {**{k: o[k] for k in GLOBAL_KEYS}, "urls": urls(name, version)}


def describe_result(name: str, version: str, instance_url: str) -> dict:
    """`sobjects/<Type>/describe`: the full describe with its URLs."""
    o = describe(name)
    object_urls = urls(name, version)
    if o["layoutable"]:
        object_urls.update(uiDetailTemplate=f"{instance_url}/{{ID}}", uiEditTemplate=f"{instance_url}/{{ID}}/e",
                           uiNewRecord=f"{instance_url}/{o['keyPrefix']}/e")
    record_types = [{**rt, "urls": {"layout": f"{object_urls['describe']}/layouts/{rt['recordTypeId']}"}}
                    for rt in o["recordTypeInfos"]]
    return {**o, "recordTypeInfos": record_types, "urls": dict(sorted(object_urls.items()))}


@cache
def last_modified() -> datetime:
    """When the describe data last changed: the newer of its two files (for If-Modified-Since)."""
    newest = max(connect.OBJECTS_FILE.stat().st_mtime, STANDARD_OBJECTS_FILE.stat().st_mtime)
    return datetime.fromtimestamp(int(newest), UTC)


# ---- looking things up --------------------------------------------------------------------------------

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


def name_field(obj: str) -> str | None:
    """The field a record of the object is known by (Name; CaseNumber on Case)."""
    return next((f["name"] for f in describe(obj)["fields"] if f["nameField"]), None)


def owned(obj: str) -> bool:
    """Whether the object's records have an owner (OwnerId)."""
    return "ownerid" in fields_by_lower(obj)


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


# The Ids Salesforce gives custom objects (01I) and custom fields (00N) as metadata components: what
# listMetadata, the Tooling API's CustomObject/CustomField and EntityDefinition.DurableId all report.
CUSTOM_OBJECT_PREFIX, CUSTOM_FIELD_PREFIX = "01I", "00N"


@cache
def definition_ids() -> dict:
    """The 01I Id of each custom object and the 00N Id of each custom field ((object, field) keys)."""
    ids, objects_seen, fields_seen = {}, 0, 0
    for name, o in objects().items():
        if o["custom"]:
            objects_seen += 1
            ids[name] = salesforce_id(CUSTOM_OBJECT_PREFIX, objects_seen)
        for f in o["fields"]:
            if f["custom"]:
                fields_seen += 1
                ids[(name, f["name"])] = salesforce_id(CUSTOM_FIELD_PREFIX, fields_seen)
    return ids
