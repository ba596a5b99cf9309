"""Apex REST (/services/apexrest/…, simple-salesforce's `apexecute`): the org has no Apex REST classes.

So every path answers what a real org without the class answers: 404 with
`[{"errorCode": "NOT_FOUND", "message": "Could not find a match for URL"}]`, after the same session
check as the REST API, and counted as an API request (api/common.py), as Salesforce counts it.
"""

from flask import jsonify

APEX_REST = "/services/apexrest"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def init_app(app, org):
    """Register the Apex REST paths."""

    @app.route(APEX_REST + "/", methods=METHODS)
    @app.route(APEX_REST + "/<path:path>", methods=METHODS)
    def apex_rest(path=""):
        response = jsonify([{"errorCode": "NOT_FOUND", "message": "Could not find a match for URL"}])
        response.status_code = 404
        return response
