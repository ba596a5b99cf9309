"""Search over REST: SOSL (`search/?q=FIND {…}`) and parameterizedSearch (GET parameters or a POST body).

A search runs in two steps. One set-based statement finds every live record of the searched objects
whose searched fields match the terms (standins/org/sosl.py turns the terms into patterns). Then,
for each object to return, the SOQL the RETURNING clause spells (its fields, WHERE, ORDER BY) is
parsed and compiled by the SOQL modules, restricted to the matching Ids. Objects come back in the
order they were asked for, each in its ORDER BY (Id when none), until the overall limit is reached.
"""

import json

from flask import Response, request
from psycopg import sql

from standins.org import compiler, queries, soql, sosl
from standins.org.api.common import API_VERSION, BASE, body

# The live records of the searched objects whose searched fields match the terms. `s` pairs each
# object with the fields the scope searches; a phone field is also searched as digits alone, so
# 4155550100 finds (415) 555-0100. A record matches a term when any of its fields does, so the terms
# of `Acme AND London` may sit in different fields, as in Salesforce.
MATCHING_RECORDS = """
SELECT r.id, r.object
  FROM {schema}.records AS r
  JOIN unnest(%(objects)s::text[], %(fields)s::text[], %(phones)s::boolean[]) AS s(object, field, phone)
    ON s.object = r.object
 CROSS JOIN LATERAL (SELECT r.fields->>s.field AS value) AS f
 CROSS JOIN LATERAL (SELECT CASE WHEN s.phone THEN f.value || ' ' || regexp_replace(f.value, '[^0-9]+', '', 'g')
                                 ELSE f.value END AS text) AS v
 WHERE NOT r.is_deleted AND v.text IS NOT NULL
 GROUP BY r.id, r.object
HAVING {match}
"""
# Request parameters that would change what a real org answers, which the local org does not offer.
UNSUPPORTED_PARAMETERS = ("dataCategory", "dataCategories", "division", "metadata", "netWorkIds", "pricebookId",
                          "snippet", "offset")


def _match(node, params: dict) -> sql.Composable:
    """The HAVING condition for a term tree: a term matches when any searched field of the record does."""
    if isinstance(node, sosl.Term):
        if node.pattern is None:
            return sql.SQL("false")
        name = f"t{len(params)}"
        params[name] = node.pattern
        return sql.SQL("bool_or(v.text ~* {})").format(sql.Placeholder(name))
    parts = [_match(p, params) for p in node.parts]
    if node.op == "andnot":
        return sql.SQL("({} AND NOT ({}))").format(parts[0], sql.SQL(" OR ").join(parts[1:]))
    return sql.SQL("({})").format(sql.SQL(" AND " if node.op == "and" else " OR ").join(parts))


def matching_ids(conn, schema: str, search: sosl.Search, objects: list[str]) -> dict[str, list[str]]:
    """The Ids of the live records that match the search, by object."""
    pairs = [(obj, f["name"], f["type"] == "phone") for obj in objects for f in sosl.searched_fields(obj, search.scope)]
    found = {obj: [] for obj in objects}
    if not pairs:
        return found
    params = {"objects": [p[0] for p in pairs], "fields": [p[1] for p in pairs], "phones": [p[2] for p in pairs]}
    statement = sql.SQL(MATCHING_RECORDS).format(schema=sql.Identifier(schema), match=_match(search.terms, params))
    for row in conn.execute(statement, params):
        found[row["object"]].append(row["id"])
    return found


def _soql(spec: sosl.Returning, obj: str, ids: list[str]) -> str:
    """The SOQL a RETURNING object spells, restricted to the matching Ids (Ids are the org's own, never input)."""
    restriction = "Id IN (" + ", ".join(f"'{i}'" for i in ids) + ")" if ids else "Id = null"
    where = f"{restriction} AND ({spec.where})" if spec.where else restriction
    return f"SELECT {spec.fields or 'Id'} FROM {obj} WHERE {where} ORDER BY {spec.order_by or 'Id'}"  # noqa: S608


def _returned(conn, schema: str, spec: sosl.Returning, obj: str, ids: list[str], room: int,
              version: str) -> list[dict]:
    """One RETURNING object's records, as REST returns them, at most `room` of them."""
    try:
        plan = compiler.compile_query(soql.parse(_soql(spec, obj, ids)), schema, include_deleted=False)
    except soql.SoqlError as exc:
        if exc.code != "MALFORMED_QUERY":
            raise
        raise sosl.SoslError(f"RETURNING {spec.sobject}(…): {exc}") from None
    limit = room if spec.limit is None else min(spec.limit, room)
    if not ids or limit <= 0:
        return []
    rows = conn.execute(plan.rows + sql.SQL(" LIMIT {} OFFSET {}").format(sql.Literal(limit),
                                                                          sql.Literal(spec.offset))).fetchall()
    return queries.records(conn, plan.shape, rows, version)


def run_search(conn, schema: str, search: sosl.Search, version: str = API_VERSION) -> dict:
    """What a search answers: `{"searchRecords": [...]}`."""
    specs = search.returning or [sosl.Returning(name) for name in sosl.searchable_objects()]
    objects = [compiler.canonical_object_for_query(spec.sobject) for spec in specs]
    ids = matching_ids(conn, schema, search, list(dict.fromkeys(objects)))
    records = []
    for spec, obj in zip(specs, objects, strict=True):
        records += _returned(conn, schema, spec, obj, ids[obj], search.limit - len(records), version)
    return {"searchRecords": records}


# ---- parameterizedSearch --------------------------------------------------------------------------

def _count(value, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise sosl.SoslError(f"{what} takes a whole number, not {value!r}") from None
    if n < 0:
        raise sosl.SoslError(f"{what} takes a whole number, not {value!r}")
    return n


def _scope(value) -> str:
    scope = (value or "ALL").upper()
    if scope == "SIDEBAR":
        raise sosl.SoslError("in=SIDEBAR is not supported by the local org")
    if scope not in sosl.SCOPES:
        raise sosl.SoslError(f"in takes ALL, NAME, EMAIL or PHONE, not {value!r}")
    return scope


def _fields(value) -> str | None:
    """A field list given as `Id,Name` (GET) or ["Id", "Name"] (POST), as SOQL's select list."""
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise sosl.SoslError("fields takes a list of field names")
    return ", ".join(n.strip() for n in names if n.strip()) or None


def parameterized(options: dict, sobjects: list[dict]) -> sosl.Search:
    """A Search from parameterizedSearch's global options and its sobjects [{name, fields, where, limit, orderBy}]."""
    unsupported = [p for p in UNSUPPORTED_PARAMETERS if options.get(p) is not None]
    if unsupported:
        raise sosl.SoslError(f"the local org's parameterizedSearch does not offer {', '.join(unsupported)}")
    q = options.get("q")
    if not isinstance(q, str) or not q.strip():
        raise sosl.SoslError("the q parameter is required: the text to search for")
    if options.get("fields") is not None and not sobjects:
        raise sosl.SoslError("fields needs at least one sobject to return them for")
    overall = _count(options.get("overallLimit"), "overallLimit")
    default_limit = _count(options.get("defaultLimit"), "defaultLimit")
    search = sosl.Search(sosl.parse_terms(q), q.strip(), _scope(options.get("in")),
                         limit=min(sosl.MAX_RESULTS if overall is None else overall, sosl.MAX_RESULTS))
    for spec in sobjects:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise sosl.SoslError("each sobject needs a name")
        limit = _count(spec.get("limit"), f"{spec['name']}.limit")
        search.returning.append(sosl.Returning(
            spec["name"], _fields(spec.get("fields", options.get("fields"))), spec.get("where") or None,
            spec.get("orderBy") or None, default_limit if limit is None else limit))
    return search


def _from_query_string(args) -> sosl.Search:
    """parameterizedSearch's GET form: q, in, fields, sobject (repeated), <Obj>.fields/.where/.limit/.orderBy."""
    by_lower = {key.lower(): key for key in args}
    options = {key: args.get(key) for key in args if "." not in key}

    def per_object(name, option):
        key = by_lower.get(f"{name}.{option}".lower())
        return args.get(key) if key else None

    sobjects = []
    for name in args.getlist("sobject"):
        spec = {"name": name, "where": per_object(name, "where"), "limit": per_object(name, "limit"),
                "orderBy": per_object(name, "orderBy")}
        if per_object(name, "fields") is not None:
            spec["fields"] = per_object(name, "fields")
        sobjects.append(spec)
    return parameterized(options, sobjects)


def _from_body() -> sosl.Search:
    data = body()
    if not isinstance(data, dict):
        raise sosl.SoslError("parameterizedSearch takes a JSON object: {\"q\": …, \"sobjects\": […], …}")
    sobjects = data.get("sobjects") or []
    if not isinstance(sobjects, list):
        raise sosl.SoslError("sobjects takes a list of {\"name\": …, \"fields\": […], …}")
    return parameterized(data, sobjects)


def _answer(result: dict) -> Response:
    # Keys in the order Salesforce writes them (attributes, then the fields as listed), not sorted.
    return Response(json.dumps(result), content_type="application/json;charset=UTF-8")


def init_app(app, org):
    """Register the search routes."""
    base = BASE

    @app.get(base + "/search/")
    @app.get(base + "/search")
    def search(version):
        text = request.args.get("q")
        if text is None:
            raise sosl.SoslError("The q parameter is required: a SOSL search, FIND {…}")
        parsed = sosl.parse(text)
        with org.connection() as conn:
            return _answer(run_search(conn, org.schema, parsed, version))

    @app.route(base + "/parameterizedSearch/", methods=["GET", "POST"])
    @app.route(base + "/parameterizedSearch", methods=["GET", "POST"])
    def parameterized_search(version):
        parsed = _from_query_string(request.args) if request.method == "GET" else _from_body()
        with org.connection() as conn:
            return _answer(run_search(conn, org.schema, parsed, version))
