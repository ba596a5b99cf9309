"""Layouts: `sobjects/<Type>/describe/layouts` and `…/compactLayouts` (and the top-level `compactLayouts?q=`).

What is answered is generated from describe (standins/org/layouts.py): one page layout and the
System Default compact layout per object, both for the Master record type. An object without
approval processes has no approval layouts, and says so (`approvalLayouts: []`). Other resources
describe's `urls` name (list views, quick actions, default values) are 404 NOT_FOUND.
"""

from flask import jsonify, request

from standins.org import describe as schema
from standins.org import layouts
from standins.org.api.common import BASE
from standins.org.errors import SalesforceError


def init_app(app, org):
    """Register the layout routes."""
    describe_base = BASE + "/sobjects/<obj>/describe"

    @app.get(describe_base + "/layouts/")
    @app.get(describe_base + "/layouts")
    def describe_layouts(version, obj):
        return jsonify(layouts.layouts(obj, version))

    @app.get(describe_base + "/layouts/<record_type_id>")
    def describe_layout(version, obj, record_type_id):
        return jsonify(layouts.record_type_layout(obj, record_type_id))

    @app.get(describe_base + "/compactLayouts/")
    @app.get(describe_base + "/compactLayouts")
    def describe_compact_layouts(version, obj):
        return jsonify(layouts.compact_layouts(obj, version))

    @app.get(describe_base + "/compactLayouts/<which>")
    def describe_compact_layout(version, obj, which):
        return jsonify(layouts.named_compact_layout(obj, which))

    @app.get(describe_base + "/approvalLayouts/")
    @app.get(describe_base + "/approvalLayouts")
    def describe_approval_layouts(version, obj):
        schema.canonical_object(obj)
        return jsonify({"approvalLayouts": []})

    @app.get(BASE + "/compactLayouts/")
    @app.get(BASE + "/compactLayouts")
    def compact_layouts_of(version):
        names = [n.strip() for n in request.args.get("q", "").split(",") if n.strip()]
        if not names:
            raise SalesforceError(400, "MALFORMED_QUERY", "The q parameter must name one or more objects")
        return jsonify({schema.canonical_object(n): layouts.named_compact_layout(n, "primary") for n in names})
