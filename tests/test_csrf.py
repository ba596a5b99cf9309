"""The one CSRF guard (web/csrf.py): unsafe requests carry the session's token, from this site, or a bearer token."""

import re

import pytest
from flask import url_for

from core import logins
from core.paths import ROOT
from tests import portal_rows
from tests.people import ops_headers
from tests.portal_rows import ACCOUNT_A, order_sfid

ORDER = order_sfid(ACCOUNT_A, 3)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def ann(ann, client):
    """Ann logged in, with a CSRF token in her session; her contact's phone is +1 555 0100."""
    portal_rows.csrf(client)
    return ann


def _writes(conn) -> dict:
    """What any state-changing route would leave behind."""
    return conn.execute(
        """SELECT (SELECT count(*) FROM salesforce._trigger_log) AS log,
                  (SELECT count(*) FROM salesforce."case") AS cases,
                  (SELECT count(*) FROM app.portal_tokens) AS tokens,
                  (SELECT count(*) FROM app.jobs) AS jobs,
                  (SELECT count(*) FROM app.invoice_runs) AS runs"""
    ).fetchone()


def _phone(conn) -> str:
    return conn.execute("SELECT phone FROM salesforce.contact WHERE email = %s",
                        (portal_rows.EMAIL_A,)).fetchone()["phone"]


def test_every_unsafe_route_is_refused_without_the_token(app, client, conn, ann):
    # Ann's session and the operator's credentials, so that every route gets as far as the guard.
    operator = ops_headers()
    before = _writes(conn)
    tried = 0
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & UNSAFE):
            with app.test_request_context():
                path = url_for(rule.endpoint, **{name: 1 for name in rule.arguments})
            response = client.open(path, method=method, headers=operator, data={"subject": "x", "period": "2026-01"})
            assert response.status_code == 400, f"{method} {path} answered {response.status_code} without a token"
            tried += 1
    assert tried >= 19 and _writes(conn) == before and _phone(conn) == "+1 555 0100"


def test_a_cross_site_origin_is_refused_even_with_a_valid_token(client, conn, ann):
    form = {"phone": "+1 555 0199", "csrf_token": portal_rows.csrf(client)}
    response = client.post("/profile", data=form, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "another site" in response.get_data(as_text=True)
    assert _phone(conn) == "+1 555 0100"


def test_a_post_the_browser_marks_cross_site_is_refused_for_operators(ops, conn):
    page = ops.get("/ops/exports")
    assert page.status_code == 200
    with ops.session_transaction() as session:
        token = session["csrf_token"]
    response = ops.post("/ops/exports/orders", data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403 and _writes(conn)["jobs"] == 0


def test_a_post_from_the_apps_own_page_is_accepted(client, conn, ann):
    form = {"phone": "+1 555 0199", "csrf_token": portal_rows.csrf(client)}
    response = client.post("/profile", data=form,
                           headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 302 and _phone(conn) == "+1 555 0199"


def test_a_bearer_token_call_needs_no_csrf_token(client, conn, portal_world):
    token = logins.create_api_token(conn, "app", portal_rows.make_user(conn)["id"], "script")
    response = client.patch("/api/v1/profile", json={"phone": "+1 555 0199"},
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and _phone(conn) == "+1 555 0199"


def test_a_bogus_bearer_token_with_a_valid_session_cannot_write(client, conn, ann):
    bogus = {"Authorization": "Bearer not-a-token", "X-CSRF-Token": portal_rows.csrf(client)}
    api = client.post(f"/api/v1/orders/{ORDER}/cases", json={"subject": "sneaky"}, headers=bogus)
    assert api.status_code == 401 and api.mimetype == "application/problem+json"
    form = client.post("/profile", data={"phone": "+1 555 0199", "csrf_token": portal_rows.csrf(client)},
                       headers={"Authorization": "Bearer not-a-token"})
    assert form.status_code == 302 and "/login" in form.headers["Location"]
    assert _writes(conn)["cases"] == 1 and _phone(conn) == "+1 555 0100"  # account B's one case, nothing new


def test_refusals_are_a_page_for_forms_and_problem_details_for_json_clients(client, ann):
    page = client.post("/profile", data={"phone": "+1 555 0199"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "Reload the page and submit it again" in page.get_data(as_text=True)
    problem = client.post("/orders/exports", headers={"Accept": "application/json"})
    assert problem.status_code == 400 and problem.mimetype == "application/problem+json"
    body = problem.get_json()
    assert body["status"] == 400 and body["title"] == "Bad Request" and "X-CSRF-Token" in body["detail"]


def test_a_post_to_an_unknown_path_is_still_a_404(client):
    assert client.post("/no-such-page").status_code == 404
    assert client.post("/api/v1/no-such-thing").status_code == 404


def test_every_post_form_and_page_script_sends_the_token():
    for template in (ROOT / "web" / "templates").rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*method=\"post\".*?</form>", template.read_text(), re.DOTALL | re.I):
            assert '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">' in form, template.name
    for script in (ROOT / "web" / "static").glob("*.js"):
        text = script.read_text()
        if re.search(r"method:\s*[\"'](POST|PUT|PATCH|DELETE)", text, re.I):
            assert "X-CSRF-Token" in text, script.name
