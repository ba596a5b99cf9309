"""A small HTML view of the local org: list, search and edit records by hand.

This is how a learner "updates the Salesforce record" in step 5 without a real org: an edit here is
a Salesforce-side change (SystemModstamp moves), which the local Connect then pulls into Postgres.
The home page also lists the refusal switches (standins/org/refusals.py) with on/off buttons, and
/rules/case-subject switches one clear validation rule on or off in one click (the walkthrough's, /learn).
Forms use a double-submit cookie against cross-site posts (a loopback development tool).
"""

import hmac
import secrets

from flask import abort, make_response, redirect, render_template, request, url_for
from psycopg import sql

from standins.org import describe as schema
from standins.org import limits, refusals, store
from standins.org.errors import SalesforceError

PAGE = 50
# The validation rule the walkthrough (/learn in the app) has a learner switch on: a refusal switch with
# the name, error condition and message a Setup page would show for it.
CASE_SUBJECT_RULE = {
    "name": "Subject_Must_Not_Say_Test",
    "object": "Case", "field": "Subject", "contains": "test",
    "condition": 'CONTAINS(LOWER(Subject), "test")',
    "message": 'Describe the problem in the subject: it must not contain "test".',
}
RECORD_COUNTS = "SELECT object, count(*) AS n FROM {}.records WHERE NOT is_deleted GROUP BY object"
# The list page: the newest records first, or those whose Id or any value matches the search term.
FIND_RECORDS = """
SELECT * FROM {}.records WHERE object = %(obj)s AND NOT is_deleted
   AND (%(term)s = '' OR id = %(term)s OR fields::text ILIKE '%%' || %(term)s || '%%')
 ORDER BY system_modstamp DESC, id DESC LIMIT %(limit)s
"""


def init_app(app, org):
    """Register the pages."""

    def csrf_token():
        token = request.cookies.get("org_csrf")
        return token if token and len(token) == 32 else secrets.token_hex(16)

    def check_csrf():
        cookie, form = request.cookies.get("org_csrf", ""), request.form.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie, form):
            abort(make_response("This form has expired: reload the page and try again.", 400))

    def page(template, **context):
        token = csrf_token()
        response = make_response(render_template(template, csrf=token, objects=schema.objects(), **context))
        response.set_cookie("org_csrf", token, httponly=True, samesite="Strict")
        return response

    @app.get("/")
    def org_home(error=None, status=200):
        with org.connection() as conn:
            counts = {r["object"]: r["n"] for r in conn.execute(
                sql.SQL(RECORD_COUNTS).format(sql.Identifier(org.schema)))}
            used, limit = limits.usage(conn, org.schema, "DailyApiRequests")
            switches = refusals.listing(conn, org.schema)
        response = page("org/home.html", counts=counts, used=used, limit=limit, switches=switches,
                        kinds=refusals.DESCRIPTIONS, record_kinds=refusals.RECORD_KINDS, error=error,
                        form=request.form if error else {})
        response.status_code = status
        return response

    @app.post("/refusals")
    def org_refuse():
        check_csrf()
        form = request.form
        times = form.get("times", "").strip()
        try:
            if times and not times.isdigit():
                raise refusals.SwitchError("Times must be a whole number")
            with org.connection() as conn:
                refusals.switch_on(conn, org.schema, form.get("kind", ""), form.get("object") or None,
                                   form.get("field", "").strip() or None, form.get("message", "").strip() or None,
                                   int(times) if times else None)
        except refusals.SwitchError as exc:
            return org_home(error=str(exc), status=400)
        return redirect(url_for("org_home") + "#refusals")

    @app.post("/refusals/off")
    def org_allow():
        check_csrf()
        with org.connection() as conn:
            refusals.remove(conn, org.schema, request.form.get("key", ""))
        return redirect(url_for("org_home") + "#refusals")

    def case_subject_switch(conn):
        """The walkthrough rule's switch while it is on, else None."""
        rule = CASE_SUBJECT_RULE
        key = f"{refusals.PREFIX}validation:{rule['object']}.{rule['field']}"
        return next((s for s in refusals.listing(conn, org.schema) if s["key"] == key), None)

    @app.get("/rules/case-subject")
    def org_rule():
        with org.connection() as conn:
            switch = case_subject_switch(conn)
        return page("org/rule.html", rule=CASE_SUBJECT_RULE, switch=switch)

    @app.post("/rules/case-subject")
    def org_rule_switch():
        check_csrf()
        rule = CASE_SUBJECT_RULE
        with org.connection() as conn:
            if request.form.get("active") == "on":
                refusals.switch_on(conn, org.schema, "validation", rule["object"], rule["field"], rule["message"],
                                   contains=rule["contains"])
            else:
                refusals.switch_off(conn, org.schema, "validation", rule["object"], rule["field"])
        return redirect(url_for("org_rule"))

    @app.get("/o/<obj>")
    def org_list(obj):
        try:
            obj = schema.canonical_object(obj)
        except SalesforceError:
            abort(404)
        term = request.args.get("q", "").strip()[:100]
        with org.connection() as conn:
            rows = conn.execute(sql.SQL(FIND_RECORDS).format(sql.Identifier(org.schema)),
                                {"obj": obj, "term": term, "limit": PAGE}).fetchall()
        columns = [f["name"] for f in schema.describe(obj)["fields"]
                   if f["type"] in ("string", "picklist", "email", "currency", "date")][:5]
        return page("org/list.html", obj=obj, rows=rows, term=term, columns=columns)

    @app.get("/lightning/r/<obj>/<record_id>/view")
    def org_lightning_record(obj, record_id):
        """A record's Lightning Experience URL, as a real org has it (the portal's "View in Salesforce")."""
        try:
            obj = schema.canonical_object(obj)
        except SalesforceError:
            abort(404)
        return redirect(url_for("org_edit", obj=obj, record_id=record_id))

    @app.route("/o/<obj>/<record_id>", methods=["GET", "POST"])
    def org_edit(obj, record_id):
        try:
            obj = schema.canonical_object(obj)
        except SalesforceError:
            abort(404)
        error = None
        # Files (blob fields) are not edited in a text box: their value here is the blob's URL.
        editable = [f for f in schema.describe(obj)["fields"] if f["updateable"] and f["type"] != "base64"]
        if request.method == "POST":
            check_csrf()
            values = {}
            for f in editable:
                if f["name"] in request.form:
                    raw = request.form[f["name"]]
                    values[f["name"]] = (raw == "on") if f["type"] == "boolean" else (raw if raw != "" else None)
            for f in editable:
                if f["type"] == "boolean" and f["name"] not in request.form:
                    values[f["name"]] = False
            try:
                with org.connection() as conn, conn.transaction():
                    store.update(conn, org.schema, obj, record_id, values)
                return redirect(url_for("org_edit", obj=obj, record_id=record_id, saved=1))
            except SalesforceError as exc:
                error = f"{exc.code}: {exc.message}"
        with org.connection() as conn:
            try:
                row = store.get(conn, org.schema, obj, record_id)
            except SalesforceError:
                abort(404)
        record = store.to_json(obj, row)
        return page("org/edit.html", obj=obj, record=record, editable=editable, error=error,
                    saved=request.args.get("saved"), fields=schema.describe(obj)["fields"])
