"""Tenant isolation: every portal route and API endpoint that takes an id, tried with another account's ids.

Ann belongs to account A. Every id below belongs to account B: each must be a 404 that shows
nothing of B's data, and writes must change nothing. A new route with an id parameter fails
test_every_route_with_an_id_is_tried until it is added here.
"""

import pytest

from core import logins
from tests import portal_rows
from tests.portal_rows import ACCOUNT_B, CASE_B, order_sfid

B_ORDER = order_sfid(ACCOUNT_B, 1)
B_INVOICE = "a0IB00000000001AAA"
# Account B's ids, by the name the paths below give them (its API token's id comes from the `world` fixture).
B_IDS = {"order": B_ORDER, "case": CASE_B, "case_key": "case-b-1", "invoice": B_INVOICE, "invoice_key": "inv-b-1"}

# (endpoint, method, path): a case or an invoice is tried by its sfid and by its external id.
ROUTES = [
    ("portal.order", "GET", "/orders/{order}"),
    ("portal.file_case", "POST", "/orders/{order}/cases"),
    ("portal.case", "GET", "/cases/{case}"),
    ("portal.case", "GET", "/cases/{case_key}"),
    ("portal.case_status", "GET", "/cases/{case}/status.json"),
    ("portal.case_journey", "GET", "/cases/{case}/journey.json"),
    ("portal.case_journey", "GET", "/cases/{case_key}/journey.json"),
    ("portal.retry_case", "POST", "/cases/{case}/retry"),
    ("portal.retry_case", "POST", "/cases/{case_key}/retry"),
    ("portal.invoice", "GET", "/invoices/{invoice}"),
    ("portal.invoice", "GET", "/invoices/{invoice_key}"),
    ("portal.invoice_status", "GET", "/invoices/{invoice}/status.json"),
    ("portal.invoice_status", "GET", "/invoices/{invoice_key}/status.json"),
    ("portal.invoice_journey", "GET", "/invoices/{invoice}/journey.json"),
    ("portal.invoice_journey", "GET", "/invoices/{invoice_key}/journey.json"),
    ("portal.revoke_api_token", "POST", "/profile/api-tokens/{b_token}/delete"),
    ("api.get_order", "GET", "/api/v1/orders/{order}"),
    ("api.file_case", "POST", "/api/v1/orders/{order}/cases"),
    ("api.case", "GET", "/api/v1/cases/{case}"),
    ("api.case", "GET", "/api/v1/cases/{case_key}"),
    ("api.case_status", "GET", "/api/v1/cases/{case}/status"),
    ("api.retry_case", "POST", "/api/v1/cases/{case}/retry"),
    ("api.invoice", "GET", "/api/v1/invoices/{invoice}"),
]
# Routes without an id: they list, so what matters is that B's rows are not in the list.
LISTS = ["/orders", "/cases", "/invoices", "/profile", "/profile/journey.json", "/api/v1/orders", "/api/v1/cases",
         "/api/v1/invoices", "/api/v1/profile"]
B_MARKERS = ("Globex", "00001001", "INV-B", "Bob", B_ORDER, CASE_B, B_INVOICE)


@pytest.fixture
def world(conn, ann, as_connect):
    """Ann (A) logged in; B has a token and a FAILED case a retry would resend. B's ids, by name."""
    bob = portal_rows.make_user(conn, portal_rows.EMAIL_B)
    logins.create_api_token(conn, "app", bob["id"], "bob's")
    b_token = conn.execute("SELECT id FROM app.portal_tokens WHERE purpose = 'api'").fetchone()["id"]
    with as_connect(conn):
        conn.execute("""UPDATE salesforce."case" SET sfid = NULL, _hc_lastop = 'FAILED' WHERE sfid = %s""", (CASE_B,))
    return {**B_IDS, "b_token": b_token}


def _snapshot(conn):
    return conn.execute(
        """SELECT (SELECT count(*) FROM salesforce._trigger_log) AS log,
                  (SELECT count(*) FROM salesforce."case") AS cases,
                  (SELECT count(*) FROM app.portal_tokens) AS tokens"""
    ).fetchone()


@pytest.mark.parametrize(("endpoint", "method", "path"), ROUTES, ids=[f"{m} {p}" for _, m, p in ROUTES])
def test_another_accounts_id_is_a_404(client, conn, world, endpoint, method, path):
    path = path.format(**world)
    before = _snapshot(conn)
    token = portal_rows.csrf(client)
    if method == "GET":
        response = client.get(path)
    elif path.startswith("/api/"):
        response = client.post(path, json={"subject": "mine now"}, headers={"X-CSRF-Token": token})
    else:
        response = client.post(path, data={"subject": "mine now", "csrf_token": token})
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert not any(marker in body for marker in B_MARKERS if marker not in path)
    assert _snapshot(conn) == before


@pytest.mark.parametrize("path", LISTS)
def test_lists_show_nothing_of_another_account(client, world, path):
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert not any(marker in body for marker in B_MARKERS)


def test_every_route_with_an_id_is_tried(app):
    tried = {endpoint for endpoint, _, _ in ROUTES}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("portal", "api") and rule.arguments:
            assert rule.endpoint in tried, f"{rule.rule} takes an id but is not in tests/test_isolation.py"


def test_api_token_of_account_a_cannot_read_account_b(client, world, conn):
    ann = logins.user_by(conn, "salesforce", "app", email=portal_rows.EMAIL_A)
    token = logins.create_api_token(conn, "app", ann["id"], "ann's")
    fresh = client.application.test_client()
    response = fresh.get(f"/api/v1/orders/{B_ORDER}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_every_form_post_without_a_csrf_token_is_refused(app, client, conn, world):
    before = _snapshot(conn)
    portal_rows.csrf(client)  # the session has a token; the requests below do not send it
    values = {"order_sfid": portal_rows.order_sfid(portal_rows.ACCOUNT_A, 3), "key": "x", "token_id": "1",
              "token": "x"}
    tried = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("auth", "portal", "api") or not rule.methods & {"POST", "PATCH"}:
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", values[name]).replace(f"<int:{name}>", values[name])
        method = "PATCH" if "PATCH" in rule.methods else "POST"
        response = client.open(path, method=method, data={"subject": "x", "email": "x@example.com"})
        assert response.status_code == 400, f"{method} {path} answered {response.status_code} without a CSRF token"
        tried += 1
    assert tried >= 10 and _snapshot(conn) == before
