"""sObject Tree: new records with their children, up to 200 in all and 5 levels deep, saved together or not at all.

POST composite/tree/<Type> `{"records": [{"attributes": {"type", "referenceId"}, field: value, …,
"<ChildRelationship>": {"records": [...]}}]}`: each nested list names children by the parent's
child relationship (Contacts, Cases, OrderItems…, as describe lists them), and each child's lookup
to its parent is set for it. Records are created level by level, parents first, and listed in that
order: 201 `{"hasErrors": false, "results": [{"referenceId", "id"}]}`. Any error answers 400
`{"hasErrors": true, "results": [{"referenceId", "errors": [...]}]}` and saves nothing.
"""

from collections import Counter
from dataclasses import dataclass, field

import psycopg
from flask import jsonify

from standins.org import describe as schema
from standins.org import store
from standins.org.api.common import BASE, record_body
from standins.org.errors import SalesforceError

TREE_LIMIT = 200
TREE_DEPTH = 5


@dataclass
class Node:
    """One record of the tree: what it is, its values, and where it hangs."""

    reference_id: str
    kind: str | None  # attributes.type as given
    expected: str  # the object its place in the tree calls for
    depth: int
    values: dict = field(default_factory=dict)
    parent: "Node | None" = None
    lookup: str | None = None  # the child's field that names its parent
    problem: tuple | None = None  # (statusCode, message) found before anything is saved
    id: str | None = None


def _nodes(records, expected, depth=1, parent=None, lookup=None) -> list[Node]:
    """Every record of the tree, each level's records before the next level's."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a list of records")
    if depth > TREE_DEPTH:
        raise SalesforceError(400, "INVALID_INPUT", f"An sObject tree can be at most {TREE_DEPTH} levels deep.")
    level, below = [], []
    for record in records:
        attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
        if not attributes.get("referenceId"):
            raise SalesforceError(400, "INVALID_INPUT", "Include a reference ID for each record in the request.")
        node = Node(str(attributes["referenceId"]), attributes.get("type"), expected, depth, parent=parent,
                    lookup=lookup)
        level.append(node)
        for key, value in record.items():
            if key == "attributes":
                continue
            if not (isinstance(value, dict) and "records" in value):
                node.values[key] = value
                continue
            rel = schema.child_relationship(expected, key)
            if rel is None:
                node.problem = ("INVALID_FIELD", f"No such column '{key}' on sobject of type {expected}")
                continue
            below.append((value["records"], rel["childSObject"], node, rel["field"]))
    nested = [n for records_below, child, node, field_name in below
              for n in _nodes(records_below, child, depth + 1, node, field_name)]
    return level + sorted(nested, key=lambda n: n.depth)


def _type_problem(node: Node) -> tuple | None:
    """Whether the record's attributes.type is the object its place calls for."""
    if not node.kind:
        return ("INVALID_INPUT", "Include an entity type for each record in the request.")
    try:
        kind = schema.canonical_object(node.kind)
    except SalesforceError:
        return ("INVALID_TYPE", f"sObject type '{node.kind}' is not supported.")
    if kind != node.expected:
        return ("INVALID_INPUT", f"The record's type is {node.kind}, where its place in the tree calls for "
                f"{node.expected}.")
    return None


def _problems(nodes: list[Node]) -> list[dict]:
    """What is wrong with the tree before anything is saved: one result per record at fault."""
    counts = Counter(n.reference_id for n in nodes)
    problems = []
    for node in nodes:
        if counts[node.reference_id] > 1:
            problem = ("INVALID_INPUT", "Duplicate ReferenceId provided in the request.")
        else:
            problem = _type_problem(node) or node.problem
        if problem:
            problems.append(_error(node, *problem))
    return problems


def _error(node, code, message, fields=()) -> dict:
    return {"referenceId": node.reference_id, "errors": [{"statusCode": code, "message": message,
                                                          "fields": list(fields)}]}


def init_app(app, org):
    """Register the sObject Tree route."""

    @app.post(BASE + "/composite/tree/<obj>")
    def create_tree(version, obj):
        obj = schema.canonical_object(obj)
        data = record_body()
        if "records" not in data:
            raise SalesforceError(400, "JSON_PARSER_ERROR", "'records' is a required field.")
        nodes = _nodes(data["records"], obj)
        if len(nodes) > TREE_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                  f"{TREE_LIMIT} records into this call")
        problems = _problems(nodes)
        if not problems:
            with org.connection() as conn, conn.transaction() as tx:
                for node in nodes:  # level by level: a child needs its parent's Id
                    values = {**node.values, **({node.lookup: node.parent.id} if node.parent else {})}
                    try:
                        node.id = store.create(conn, org.schema, node.expected, values)
                    except SalesforceError as exc:
                        problems = [_error(node, exc.code, exc.message, exc.fields)]
                        raise psycopg.Rollback(tx) from None
        if problems:
            response = jsonify({"hasErrors": True, "results": problems})
            response.status_code = 400
            return response
        response = jsonify({"hasErrors": False, "results": [{"referenceId": n.reference_id, "id": n.id}
                                                            for n in nodes]})
        response.status_code = 201
        return response
