"""The Tooling API under /services/data/vNN.N/tooling/ (simple-salesforce's `toolingexecute`).

Served: `tooling/query?q=` over the tooling objects derived from describe (EntityDefinition,
FieldDefinition, CustomObject, CustomField; ApexClass and ApexTrigger, which are empty),
`tooling/sobjects/` (their describeGlobal), `tooling/sobjects/<Type>/` and `…/describe`, and one
record by Id or DurableId (standins/org/tooling.py). `executeAnonymous` is refused: the org runs no
Apex. Writes and every other tooling resource (runTests*, completions, …) are not served (405 / 404).
"""

from flask import jsonify

from standins.org import tooling
from standins.org.api.common import BASE, COLLECTION_LIMIT, query_text
from standins.org.errors import SalesforceError

TOOLING = BASE + "/tooling"
NO_APEX = ("The local org runs no Apex: anonymous Apex cannot be executed here (it has no Apex classes or "
           "triggers either).")


def init_app(app, org):
    """Register the tooling routes."""

    @app.get(TOOLING + "/query/")
    @app.get(TOOLING + "/query")
    def tooling_query(version):
        text = query_text()
        return jsonify(tooling.query(text, version))

    @app.get(TOOLING + "/sobjects/")
    @app.get(TOOLING + "/sobjects")
    def tooling_describe_global(version):
        return jsonify({"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT,
                        "sobjects": [tooling.basic_info(name, version) for name in sorted(tooling.objects())]})

    @app.get(TOOLING + "/sobjects/<obj>/describe/")
    @app.get(TOOLING + "/sobjects/<obj>/describe")
    def tooling_describe(version, obj):
        return jsonify(tooling.describe_result(tooling.canonical_object(obj), version))

    @app.get(TOOLING + "/sobjects/<obj>/")
    @app.get(TOOLING + "/sobjects/<obj>")
    def tooling_basic_info(version, obj):
        obj = tooling.canonical_object(obj)
        return jsonify({"objectDescribe": tooling.basic_info(obj, version), "recentItems": []})

    @app.get(TOOLING + "/sobjects/<obj>/<key>")
    def tooling_record(version, obj, key):
        obj = tooling.canonical_object(obj)
        record = tooling.find(obj, key)
        if record is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return jsonify(tooling.to_json(obj, record, version))

    @app.route(TOOLING + "/executeAnonymous/", methods=["GET", "POST"])
    @app.route(TOOLING + "/executeAnonymous", methods=["GET", "POST"])
    def execute_anonymous(version):
        raise SalesforceError(400, "FUNCTIONALITY_NOT_ENABLED", NO_APEX)
