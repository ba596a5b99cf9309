"""The Tooling API's objects, derived from describe, and the SOQL that reads them (`tooling/query`).

What tools read daily is what the org knows of its own schema: EntityDefinition (one per object),
FieldDefinition (one per field), CustomObject and CustomField (the custom ones, with the Ids
listMetadata gives them: 01I…, 00N…), and ApexClass / ApexTrigger, which have no records (the org
runs no Apex). Their describes come from standins/org/tooling_objects.json through describe's
builder; their records are computed from the org's describe, so they always agree with it.

A tooling query is parsed by the SOQL parser and answered here, over those records in memory:
select lists with parent fields (`EntityDefinition.QualifiedApiName`), `COUNT()`, `WHERE` (=, !=, <, <=,
>, >=, [NOT] IN, LIKE, AND/OR/NOT), `ORDER BY`, `LIMIT`, `OFFSET`; one page, as the sets are small. As
on a real org, FieldDefinition needs a filter on its entity (EntityDefinitionId,
EntityDefinition.QualifiedApiName) or DurableId.
"""

import json
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path

from standins.org import describe as schema
from standins.org import soql
from standins.org.errors import SalesforceError
from standins.org.ids import USER_ID, full_id

TOOLING_OBJECTS_FILE = Path(__file__).with_name("tooling_objects.json")
# The Id a real org gives every EntityDefinition and FieldDefinition record (they are known by DurableId).
VIRTUAL_ID = "000000000000000AAA"
# Key prefixes of custom object and custom field definitions, numbered in describe's order as listMetadata numbers them.
CUSTOM_DATE = "2024-01-01T00:00:00.000+0000"  # when the org's custom components were defined
NOT_CUSTOMIZABLE = {"Organization", "Profile", "RecordType", "ContentDocument", "Attachment"}
REIFIED = {"entitydefinitionid", "entitydefinition.qualifiedapiname", "entitydefinition.durableid", "durableid"}
OPERATORS = {"=", "!=", "<", "<=", ">", ">=", "in", "notin", "like"}
NUMBERS = {"int", "double", "currency", "percent"}
TEXT = {"string", "textarea", "picklist", "id", "reference", "email", "phone", "url"}


# ---- the objects -------------------------------------------------------------------------------------

@cache
def objects() -> dict:
    """The Tooling API's objects by name: each one's full describe."""
    return schema.build(json.loads(TOOLING_OBJECTS_FILE.read_text())["sobjects"], {}, audit_fields=False)


def canonical_object(name: str, *, querying: bool = False) -> str:
    """A tooling object's name whatever its case: INVALID_TYPE in a query, NOT_FOUND as a resource, otherwise."""
    for key in objects():
        if key.lower() == (name or "").lower():
            return key
    if querying:
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported. If you are attempting "
                              "to use a custom object, be sure to append the '__c' after the entity name. Please "
                              "reference your WSDL or the describe call for the appropriate names.")
    raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: tooling sObject type '{name}'")


def urls(name: str, version: str) -> dict:
    """The resources describe lists for a tooling object."""
    base = f"/services/data/v{version}/tooling/sobjects/{name}"
    return {"describe": base + "/describe", "rowTemplate": base + "/{ID}", "sobject": base}


def basic_info(name: str, version: str) -> dict:
    """A tooling object as `tooling/sobjects/` lists it."""
    o = objects()[name]
    return {**{k: o[k] for k in schema.GLOBAL_KEYS}, "urls": urls(name, version)}


def describe_result(name: str, version: str) -> dict:
    """`tooling/sobjects/<Type>/describe`."""
    return {**objects()[name], "urls": urls(name, version)}


# ---- the records, from describe ----------------------------------------------------------------------

@cache
def _developer_name(api_name: str) -> str:
    return api_name.removesuffix("__c")


def _entity(name: str) -> dict:
    o = schema.describe(name)
    custom = o["custom"]
    return {
        "Id": VIRTUAL_ID, "DurableId": schema.definition_ids()[name] if custom else name, "QualifiedApiName": name,
        "DeveloperName": _developer_name(name), "NamespacePrefix": None, "MasterLabel": o["label"],
        "Label": o["label"], "PluralLabel": o["labelPlural"], "KeyPrefix": o["keyPrefix"],
        "IsCustomizable": name not in NOT_CUSTOMIZABLE, "IsCustomSetting": o["customSetting"],
        "IsQueryable": o["queryable"], "IsLayoutable": o["layoutable"], "IsSearchable": o["searchable"],
        "IsTriggerable": o["triggerable"], "IsApexTriggerable": o["triggerable"],
        "IsCompactLayoutable": o["compactLayoutable"], "IsDeprecatedAndHidden": o["deprecatedAndHidden"],
        "IsEverCreatable": o["createable"], "IsEverUpdatable": o["updateable"], "IsEverDeletable": o["deletable"],
        "IsFeedEnabled": o["feedEnabled"], "IsMruEnabled": o["mruEnabled"], "IsReplicateable": o["replicateable"],
        "IsRetrieveable": o["retrieveable"], "IsIdEnabled": True, "IsInterface": o["isInterface"],
        "DeploymentStatus": "Deployed" if custom else None, "PublisherId": "<local>" if custom else "System",
        "LastModifiedDate": CUSTOM_DATE if custom else None, "LastModifiedById": USER_ID if custom else None,
    }


def data_type(f: dict) -> str:
    """A field's type as Setup shows it, and FieldDefinition.DataType says: Text(80), Lookup(Account), Checkbox, …"""
    kind, length, scale = f["type"], f["length"], f["scale"]
    digits = f["precision"] - scale
    if f["extraTypeInfo"] == "personname":
        return "Name"
    if f["autoNumber"]:
        return "Auto Number"
    if kind == "reference":
        return f"Lookup({','.join(schema.describe(t)['label'] for t in f['referenceTo'])})"
    base = {"id": "Lookup()", "string": f"Text({length})", "picklist": "Picklist",
            "multipicklist": "Picklist (Multi-Select)", "boolean": "Checkbox", "date": "Date", "datetime": "Date/Time",
            "time": "Time", "int": f"Number({f['digits']}, 0)", "double": f"Number({digits}, {scale})",
            "currency": f"Currency({digits}, {scale})", "percent": f"Percent({digits}, {scale})", "email": "Email",
            "phone": "Phone", "url": f"URL({length})", "base64": "Base64",
            "textarea": f"Long Text Area({length})" if length > 255 else f"Text Area({length})"}.get(kind, kind)
    return f"Formula ({base.split('(')[0]})" if f["calculated"] else base


def _value_type(f: dict) -> str:
    return {"id": "id", "reference": "id", "boolean": "boolean", "int": "int", "double": "double",
            "currency": "double", "percent": "double", "date": "date", "datetime": "datetime",
            "base64": "base64Binary"}.get(f["type"], "string")


def _field(entity: dict, f: dict) -> dict:
    custom_id = schema.definition_ids().get((entity["QualifiedApiName"], f["name"]))
    return {
        "Id": VIRTUAL_ID, "DurableId": f"{entity['DurableId']}.{custom_id or f['name']}",
        "QualifiedApiName": f["name"], "EntityDefinitionId": entity["DurableId"], "EntityDefinition": entity,
        "DeveloperName": _developer_name(f["name"]), "NamespacePrefix": None, "MasterLabel": f["label"],
        "Label": f["label"], "Length": f["length"], "DataType": data_type(f), "ValueTypeId": _value_type(f),
        "Precision": f["precision"], "Scale": f["scale"], "Digits": f["digits"], "IsNillable": f["nillable"],
        "IsCalculated": f["calculated"], "IsApiFilterable": f["filterable"], "IsApiSortable": f["sortable"],
        "IsApiGroupable": f["groupable"], "IsNameField": f["nameField"],
        "IsPolymorphicForeignKey": f["polymorphicForeignKey"],
        "IsIndexed": f["type"] in ("id", "reference") or f["externalId"] or f["unique"] or f["nameField"],
        "IsHighScaleNumber": False, "IsCompound": False, "IsFieldHistoryTracked": False,
        "IsFlsEnabled": f["permissionable"], "RelationshipName": f["relationshipName"],
        "ExtraTypeInfo": f["extraTypeInfo"], "ReferenceTargetField": None, "Description": None,
        "PublisherId": "<local>" if custom_id else "System", "LastModifiedDate": CUSTOM_DATE if custom_id else None,
        "LastModifiedById": USER_ID if custom_id else None,
    }


def _custom(record: dict) -> dict:
    return {"NamespacePrefix": None, "Description": None, "ManageableState": "unmanaged", **record,
            "CreatedDate": CUSTOM_DATE, "CreatedById": USER_ID, "LastModifiedDate": CUSTOM_DATE,
            "LastModifiedById": USER_ID}


@cache
def records(name: str) -> tuple:
    """Every record of a tooling object, computed from the org's describe."""
    entities = [_entity(n) for n in schema.objects()]
    if name == "EntityDefinition":
        return tuple(entities)
    if name == "FieldDefinition":
        return tuple(_field(e, f) for e in entities for f in schema.describe(e["QualifiedApiName"])["fields"])
    ids = schema.definition_ids()
    if name == "CustomObject":
        return tuple(_custom({"Id": ids[n], "DeveloperName": _developer_name(n), "ExternalName": None,
                              "SharingModel": "ReadWrite"}) for n, o in schema.objects().items() if o["custom"])
    if name == "CustomField":
        return tuple(_custom({"Id": ids[(n, f["name"])], "TableEnumOrId": ids.get(n, n),
                              "DeveloperName": _developer_name(f["name"]), "Length": f["length"] or None,
                              "InlineHelpText": None})
                     for n, o in schema.objects().items() for f in o["fields"] if f["custom"])
    return ()  # ApexClass, ApexTrigger: the org has no Apex


def record_url(name: str, record: dict, version: str) -> str:
    """A tooling record's URL: by DurableId where it has one, else by Id."""
    key = record.get("DurableId") or record["Id"]
    return f"/services/data/v{version}/tooling/sobjects/{name}/{key}"


def find(name: str, key: str) -> dict | None:
    """One record by Id (CustomObject, CustomField) or DurableId (EntityDefinition, FieldDefinition)."""
    for record in records(name):
        if record.get("DurableId") == key or (record["Id"] != VIRTUAL_ID and record["Id"] == full_id(key)):
            return record
    return None


def to_json(name: str, record: dict, version: str, paths=None) -> dict:
    """A tooling record as the API answers it: `attributes`, then the fields asked for (parents nested)."""
    out = {"attributes": {"type": name, "url": record_url(name, record, version)}}
    for path in paths or [[f["name"]] for f in objects()[name]["fields"]]:
        target, value, obj = out, record, name
        for step in path[:-1]:
            ref = _relationship(obj, step)
            obj, value = ref["referenceTo"][0], (value or {}).get(ref["relationshipName"])
            if value is None:
                target[ref["relationshipName"]] = None
                break
            target = target.setdefault(ref["relationshipName"], {
                "attributes": {"type": obj, "url": record_url(obj, value, version)}})
        else:
            target[path[-1]] = (value or {}).get(path[-1])
    return out


# ---- tooling SOQL -------------------------------------------------------------------------------------

def _relationship(obj: str, name: str) -> dict:
    """The lookup a parent path steps through (EntityDefinition on FieldDefinition); only to tooling objects."""
    for f in objects()[obj]["fields"]:
        if (f["relationshipName"] or "").lower() == name.lower() and f["referenceTo"][0] in objects():
            return f
    raise SalesforceError(400, "INVALID_FIELD", f"Didn't understand relationship '{name}' in field path. If you are "
                          "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                          "relationship name. Please reference your WSDL or the describe call for the appropriate "
                          "names.")


def resolve(obj: str, path: str) -> tuple[list[str], dict]:
    """A field path's canonical steps and the field it ends at; INVALID_FIELD if the object has none."""
    parts = path.split(".")
    steps = []
    for part in parts[:-1]:
        ref = _relationship(obj, part)
        steps.append(ref["relationshipName"])
        obj = ref["referenceTo"][0]
    for f in objects()[obj]["fields"]:
        if f["name"].lower() == parts[-1].lower():
            return [*steps, f["name"]], f
    raise SalesforceError(400, "INVALID_FIELD", f"No such column '{parts[-1]}' on entity '{obj}'. If you are "
                          "attempting to use a custom field, be sure to append the '__c' after the custom field "
                          "name. Please reference your WSDL or the describe call for the appropriate names.")


def _value(record: dict, obj: str, steps: list[str]):
    for step in steps[:-1]:
        record = (record or {}).get(step)
    return (record or {}).get(steps[-1])


def _literal(f: dict, value):
    """A WHERE literal checked against the field's type, as SOQL checks it."""
    kind = f["type"]
    if isinstance(value, soql.DateLiteral):
        raise soql.SoqlError("the local org's tooling queries take dates and datetimes, not date literals")
    ok = (value is None or (kind == "boolean" and isinstance(value, bool))
          or (kind in NUMBERS and isinstance(value, int | float) and not isinstance(value, bool))
          or (kind in TEXT and isinstance(value, str))
          or (kind == "datetime" and isinstance(value, datetime))
          or (kind == "date" and isinstance(value, date) and not isinstance(value, datetime)))
    if not ok:
        raise SalesforceError(400, "INVALID_FIELD", f"value of filter criterion for field '{f['name']}' must be of "
                              f"type {kind}")
    return value.lower() if isinstance(value, str) else value


def _like(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _matches(obj: str, node, record: dict) -> bool:
    if isinstance(node, soql.BoolOp):
        results = (_matches(obj, p, record) for p in node.parts)
        return not next(results) if node.op == "not" else (all(results) if node.op == "and" else any(results))
    if not isinstance(node.field, str) or node.op not in OPERATORS or (
            node.op in ("in", "notin") and not isinstance(node.value, list)):
        raise soql.SoqlError("the local org's tooling queries compare fields with =, !=, <, <=, >, >=, [NOT] IN "
                             "(values) and LIKE only")
    steps, f = resolve(obj, node.field)
    actual = _value(record, obj, steps)
    actual = actual.lower() if isinstance(actual, str) else actual
    if node.op == "like":
        return isinstance(actual, str) and _like(node.value).fullmatch(actual) is not None
    if node.op in ("in", "notin"):
        found = actual in [_literal(f, v) for v in node.value]
        return found if node.op == "in" else not found
    expected = _literal(f, node.value)
    if node.op == "=":
        return actual == expected
    if node.op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    return {"<": actual < expected, "<=": actual <= expected, ">": actual > expected, ">=": actual >= expected}[node.op]


def _filters_on(node) -> set[str]:
    """The fields a WHERE clause compares (lowercased paths)."""
    if node is None:
        return set()
    if isinstance(node, soql.BoolOp):
        return set().union(*(_filters_on(p) for p in node.parts))
    return {str(node.field).lower()}


def _sorted(obj: str, rows: list[dict], order_by) -> list[dict]:
    """Rows in ORDER BY order: text case-insensitively, nulls first ascending and last descending unless told."""
    for path, descending, nulls_last in reversed(order_by):
        if not isinstance(path, str):
            raise soql.SoqlError("the local org's tooling queries order by fields only")
        steps, _ = resolve(obj, path)
        # sorted(reverse=True) reverses the nulls' place too: flag them so they land where asked.
        null_flag = (descending if nulls_last is None else nulls_last) != descending

        def key(r, steps=steps, null_flag=null_flag):
            v = _value(r, obj, steps)
            return (null_flag, 0) if v is None else (not null_flag, v.lower() if isinstance(v, str) else v)

        rows = sorted(rows, key=key, reverse=descending)
    return rows


def query(text: str, version: str) -> dict:
    """A tooling query's answer: `size`, `totalSize`, `done`, `queryLocator`, `entityTypeName`, `records`."""
    q = soql.parse(text)
    obj = canonical_object(q.sobject, querying=True)
    if q.group_by or q.having:
        raise soql.SoqlError("the local org's tooling queries do not group (GROUP BY, HAVING)")
    paths = [] if q.count else [resolve(obj, e)[0] if isinstance(e, str) else _unsupported(e) for e in q.fields]
    if obj == "FieldDefinition" and not _filters_on(q.where) & REIFIED:
        raise soql.SoqlError("Filter on a reified column is required [EntityDefinitionId,DurableId]")
    rows = [r for r in records(obj) if q.where is None or _matches(obj, q.where, r)]
    rows = _sorted(obj, rows, q.order_by)
    offset = q.offset or 0
    rows = rows[offset:] if q.limit is None else rows[offset:offset + q.limit]
    if q.count:
        return {"size": 0, "totalSize": len(rows), "done": True, "queryLocator": None, "entityTypeName": obj,
                "records": []}
    return {"size": len(rows), "totalSize": len(rows), "done": True, "queryLocator": None, "entityTypeName": obj,
            "records": [to_json(obj, r, version, paths) for r in rows]}


def _unsupported(expression):
    raise soql.SoqlError("the local org's tooling queries select fields only, not "
                         f"{getattr(expression, 'text', None) or expression}")
