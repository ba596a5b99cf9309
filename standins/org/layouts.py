"""Page layouts and compact layouts, generated from describe: what `describe/layouts` and `…/compactLayouts` answer.

An org has the layouts its admins drew; the local org has one per layoutable object, the one an
admin would start from: every field of the object (but Id, the system timestamps and compound
names) in two columns, left to right, in describe's order, required fields marked; the audit
fields in a "System Information" section; the standard buttons the object allows; a related list
per named child relationship. It is assigned to the Master record type. The compact layout is
Salesforce's "System Default": the name field and the next few fields.
"""

from standins.org import describe as schema
from standins.org.errors import SalesforceError
from standins.org.ids import full_id, salesforce_id

# Key prefixes of a layout and of its sections, as a real org's Ids carry them.
LAYOUT_PREFIX, SECTION_PREFIX = "00h", "01B"
COLUMNS = 2
SYSTEM_FIELDS = ("CreatedById", "LastModifiedById")
# In no section: the record's Id and the timestamps (a real layout shows them beside Created By, Last Modified By).
HIDDEN = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
COMPACT_FIELDS = 4
RELATED_LIST_COLUMNS = 4
RELATED_LIST_ROWS = 5
BUTTON_KEYS = ("behavior", "colors", "content", "contentSource", "custom", "encoding", "height", "icons", "label",
               "menubar", "name", "overridden", "resizeable", "scrollbars", "showsLocation", "showsStatus", "toolbar",
               "url", "width", "windowPosition")


def _number(obj: str) -> int:
    """The object's place among the org's objects (1, 2, …): the layout's Id and its sections' derive from it."""
    return list(schema.objects()).index(obj) + 1


def layout_id(obj: str) -> str:
    """The Id of the object's one page layout."""
    return salesforce_id(LAYOUT_PREFIX, _number(obj))


def _layoutable(obj: str) -> str:
    """The object's API name if it has page layouts; NOT_FOUND as Salesforce answers otherwise."""
    obj = schema.canonical_object(obj)
    if not schema.describe(obj)["layoutable"]:
        raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: {obj} has no layouts")
    return obj


def _master(obj: str, record_type_id: str) -> None:
    """Refuse any record type but the Master one (the org has no others)."""
    if full_id(record_type_id) != schema.MASTER_RECORD_TYPE_ID:
        raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: no record type "
                              f"{record_type_id} for {obj}")


def _required(f: dict) -> bool:
    """Whether a new record must have the field: the same rule the org enforces on create."""
    return not f["nillable"] and f["createable"] and not f["defaultedOnCreate"]


def _item(f: dict, tab_order: int) -> dict:
    return {"editableForNew": f["createable"], "editableForUpdate": f["updateable"], "label": f["label"],
            "layoutComponents": [{"details": f, "displayLines": 1, "tabOrder": tab_order, "type": "Field",
                                  "value": f["name"]}],
            "placeholder": False, "required": _required(f)}


PLACEHOLDER = {"editableForNew": False, "editableForUpdate": False, "label": "", "layoutComponents": [],
               "placeholder": True, "required": False}


def _section(obj: str, number: int, heading: str, fields: list[dict], first_tab: int, use_heading: bool) -> dict:
    """A two-column section, filled left to right."""
    items = [_item(f, first_tab + i) for i, f in enumerate(fields)]
    items += [PLACEHOLDER] * (-len(items) % COLUMNS)
    rows = [{"layoutItems": items[i:i + COLUMNS], "numItems": COLUMNS} for i in range(0, len(items), COLUMNS)]
    return {"collapsed": False, "columns": COLUMNS, "heading": heading, "layoutRows": rows,
            "layoutSectionId": salesforce_id(SECTION_PREFIX, _number(obj) * 10 + number),
            "parentLayoutId": layout_id(obj), "rows": len(rows), "tabOrder": "LeftToRight",
            "useCollapsibleSection": False, "useHeading": use_heading}


def _sections(obj: str) -> list[dict]:
    fields = schema.describe(obj)["fields"]
    compounds = {f["compoundFieldName"] for f in fields if f["compoundFieldName"]}
    shown = [f for f in fields if f["name"] not in HIDDEN | compounds | set(SYSTEM_FIELDS)]
    system = [f for f in fields if f["name"] in SYSTEM_FIELDS]
    label = schema.describe(obj)["label"]
    return [_section(obj, 1, f"{label} Information", shown, 1, False),
            _section(obj, 2, "System Information", system, len(shown) + 1, True)]


def _button(name: str, label: str) -> dict:
    return {**dict.fromkeys(BUTTON_KEYS), "custom": False, "label": label, "menubar": False, "name": name,
            "overridden": False, "resizeable": False, "scrollbars": False, "showsLocation": False,
            "showsStatus": False, "toolbar": False}


def _buttons(o: dict) -> list[dict]:
    allowed = [("Edit", "Edit", o["updateable"]), ("Delete", "Delete", o["deletable"]),
               ("Clone", "Clone", o["createable"])]
    return [_button(name, label) for name, label, ok in allowed if ok]


def _summary_fields(obj: str) -> list[dict]:
    """The fields a record is summed up by (related list columns, compact layouts), its name first.

    The rest follow in describe's order, without the parts of a compound name, blobs, the Id and the timestamps.
    """
    fields = [f for f in schema.describe(obj)["fields"]
              if f["name"] not in HIDDEN and f["type"] != "base64" and not f["compoundFieldName"]]
    return sorted(fields, key=lambda f: not f["nameField"])  # sorted() is stable: the rest keep their order


def _column(child: str, f: dict) -> dict:
    return {"field": f"{child}.{f['name']}", "fieldApiName": f["name"], "format": None, "label": f["label"],
            "lookupId": "Id" if f["nameField"] else None,
            "name": f["name"], "sortable": f["sortable"]}


def _related_list(rel: dict) -> dict:
    child = schema.describe(rel["childSObject"])
    # Plain fields only: a lookup's column shows its parent's name (Account.Name), which this layout leaves out.
    fields = [f for f in _summary_fields(child["name"]) if f["type"] != "reference"]
    return {"accessLevelRequiredForCreate": None,
            "buttons": [_button("New", "New")] if child["createable"] else [],
            "columns": [_column(child["name"], f) for f in fields[:RELATED_LIST_COLUMNS]],
            "custom": child["custom"], "field": rel["field"], "label": child["labelPlural"],
            "limitRows": RELATED_LIST_ROWS, "name": rel["relationshipName"], "sobject": child["name"],
            "sort": [{"ascending": False, "column": "LastModifiedDate"}]}


def layout(obj: str) -> dict:
    """The object's page layout (`describe/layouts/<recordTypeId>`)."""
    o = schema.describe(obj)
    sections = _sections(obj)
    related = [_related_list(r) for r in o["childRelationships"] if r["relationshipName"]
               and schema.describe(r["childSObject"])["queryable"]]
    return {"buttonLayoutSection": {"detailButtons": _buttons(o)}, "detailLayoutSections": sections,
            "editLayoutSections": sections, "feedView": None, "highlightsPanelLayoutSection": None,
            "id": layout_id(obj), "multirowEditLayoutSections": [], "offlineLinks": [],
            "quickActionList": {"quickActionListItems": []}, "relatedContent": None, "relatedLists": related,
            "saveOptions": []}


def _record_type_mappings(obj: str, version: str) -> list[dict]:
    o = schema.describe(obj)
    base = f"/services/data/v{version}/sobjects/{obj}/describe/layouts/"
    picklists = [{"picklistName": f["name"], "picklistValues": f["picklistValues"]}
                 for f in o["fields"] if f["type"] == "picklist"]
    return [{"available": rt["available"], "defaultRecordTypeMapping": rt["defaultRecordTypeMapping"],
             "developerName": rt["developerName"], "layoutId": layout_id(obj), "master": rt["master"],
             "name": rt["name"], "picklistsForRecordType": picklists, "recordTypeId": rt["recordTypeId"],
             "urls": {"layout": base + rt["recordTypeId"]}} for rt in o["recordTypeInfos"]]


def layouts(obj: str, version: str) -> dict:
    """`describe/layouts/`: every layout of the object and which record type gets which."""
    obj = _layoutable(obj)
    return {"layouts": [layout(obj)], "recordTypeMappings": _record_type_mappings(obj, version),
            "recordTypeSelectorRequired": [False]}


def record_type_layout(obj: str, record_type_id: str) -> dict:
    """`describe/layouts/<recordTypeId>`: the layout the record type is assigned."""
    obj = _layoutable(obj)
    _master(obj, record_type_id)
    return layout(obj)


# ---- compact layouts ---------------------------------------------------------------------------------

def _compactable(obj: str) -> str:
    obj = schema.canonical_object(obj)
    if not schema.describe(obj)["compactLayoutable"]:
        raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: {obj} has no compact layouts")
    return obj


def compact_layout(obj: str) -> dict:
    """Salesforce's System Default compact layout: the name field, then the next fields in describe's order."""
    items = [_item(f, i + 1) for i, f in enumerate(_summary_fields(obj)[:COMPACT_FIELDS])]
    return {"actions": [], "fieldItems": items, "id": None, "imageItems": [], "label": "System Default",
            "name": "SYSTEM", "objectType": obj}


def compact_layouts(obj: str, version: str) -> dict:
    """`describe/compactLayouts/`: the object's compact layouts and which record type gets which."""
    obj = _compactable(obj)
    base = f"/services/data/v{version}/sobjects/{obj}/describe/compactLayouts/"
    mappings = [{"available": rt["available"], "compactLayoutId": None, "compactLayoutName": "SYSTEM",
                 "recordTypeId": rt["recordTypeId"], "recordTypeName": rt["name"],
                 "urls": {"compactLayout": base + rt["recordTypeId"]}}
                for rt in schema.describe(obj)["recordTypeInfos"]]
    return {"compactLayouts": [compact_layout(obj)], "defaultCompactLayoutId": None,
            "recordTypeCompactLayoutMappings": mappings}


def named_compact_layout(obj: str, which: str) -> dict:
    """`describe/compactLayouts/primary` or `…/<recordTypeId>`: the one compact layout."""
    obj = _compactable(obj)
    if which.lower() != "primary":
        _master(obj, which)
    return compact_layout(obj)
