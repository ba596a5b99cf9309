"""A query's column metadata (GET query?q=…&columns=true): what the Salesforce CLI asks for before it shows a query.

`sf data query` builds its table from it: plain fields by columnName, parent fields as joinColumns
under the relationship's name, child subqueries as an `aggregate` column with the child's columns as
joinColumns, and functions (COUNT(Id), …) as `aggregate` columns keyed exprN or their alias, shown
by their displayName, the function as written.
"""

from standins.org import compiler, soql
from standins.org.compiler import ChildPlan, FieldItem, Shape
from standins.org.describe import describe
from standins.org.sql_terms import NUMERIC, TEXTUAL

APEX_TYPES = {"id": "Id", "reference": "Id", "boolean": "Boolean", "int": "Integer", "double": "Double",
              "percent": "Double", "currency": "Decimal", "date": "Date", "datetime": "Datetime"}


def column_metadata(schema: str, text: str) -> dict:
    """The columnMetadata answer for a query (which is compiled, so a bad query is refused as it would be run)."""
    plan = compiler.compile_query(soql.parse(text), schema, include_deleted=False)
    if plan.kind == "count":
        columns, id_selected = [], False
    elif plan.kind == "aggregate":
        columns = [_function_column(i) if i.call else _field_column(i.key, i.field) for i in plan.shape.items]
        id_selected = any(i.field and i.field["name"] == "Id" and i.key == "Id" for i in plan.shape.items)
    else:
        columns, id_selected = _shape_columns(plan.shape), isinstance(plan.shape.items.get("Id"), FieldItem)
    return {"columnMetadata": columns, "entityName": plan.obj, "groupBy": bool(plan.query.group_by),
            "idSelected": id_selected, "keyPrefix": describe(plan.obj)["keyPrefix"]}


def _column(name, *, aggregate=False, apex=None, boolean=False, custom=False, display=None, fk=None,
            insertable=False, joins=(), number=False, text=False, updatable=False) -> dict:
    return {"aggregate": aggregate, "apexType": apex, "booleanType": boolean, "columnName": name, "custom": custom,
            "displayName": display or name, "foreignKeyName": fk, "insertable": insertable,
            "joinColumns": list(joins), "numberType": number, "textType": text, "updatable": updatable}


def _field_column(key: str, f: dict) -> dict:
    kind = f["type"]
    return _column(key, apex=APEX_TYPES.get(kind, "String"), boolean=kind == "boolean", custom=f["custom"],
                   insertable=f["createable"], number=kind in NUMERIC, text=kind in TEXTUAL, updatable=f["updateable"])


def _function_column(item) -> dict:
    return _column(item.key, aggregate=True, display=item.call.text, number=item.column.kind in NUMERIC | {"int"})


def _shape_columns(shape: Shape) -> list:
    out = []
    for key, item in shape.items.items():
        if isinstance(item, FieldItem):
            out.append(_field_column(key, item.field))
        elif isinstance(item, ChildPlan):
            out.append(_column(key, aggregate=True, joins=_shape_columns(item.shape)))
        else:
            out.append(_column(key, custom=item.fk["custom"], fk=item.fk["name"], joins=_shape_columns(item)))
    return out
