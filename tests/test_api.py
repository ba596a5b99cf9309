"""The JSON API: token and session auth, problem details, CSRF only for cookie sessions, the OpenAPI document."""

import json

import pytest

from core import logins
from tests import portal_rows, refusals
from tests.portal_rows import ACCOUNT_A, EMAIL_A, order_sfid

ORDER = order_sfid(ACCOUNT_A, 3)


@pytest.fixture
def token(conn, portal_world):
    """An API token for Ann (account A)."""
    user = portal_rows.make_user(conn)
    return logins.create_api_token(conn, "app", user["id"], "tests")


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_orders_with_a_bearer_token(client, token):
    body = client.get("/api/v1/orders", headers=_auth(token)).get_json()
    assert [o["number"] for o in body["orders"][:2]] == ["00000030", "00000029"]
    assert body["orders"][0]["effective_date"] == "2026-03-02"
    following = client.get(body["next"], headers=_auth(token)).get_json()
    assert [o["number"] for o in following["orders"]] == ["00000005", "00000004", "00000003", "00000002", "00000001"]
    assert following["next"] is None


def test_order_detail_has_items_and_invoices(client, token):
    body = client.get(f"/api/v1/orders/{ORDER}", headers=_auth(token)).get_json()
    assert {i["product"] for i in body["items"]} == {"Widget", "Support plan"}
    assert [i["name"] for i in body["invoices"]] == ["INV-A-2026-01"]


def test_filing_a_case_by_token_needs_no_csrf_token(client, token, conn):
    response = client.post(f"/api/v1/orders/{ORDER}/cases", headers=_auth(token), json={"subject": "Where is it?"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["sync"] == {"state": "pending", "label": "Sending to Salesforce…", "final": False}
    assert response.headers["Location"] == body["url"]
    assert client.get(body["status_url"], headers=_auth(token)).get_json()["label"] == "Sending to Salesforce…"


def test_api_write_with_a_session_cookie_needs_the_csrf_header(client, ann):
    refused = client.post(f"/api/v1/orders/{ORDER}/cases", json={"subject": "x"})
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    accepted = client.post(f"/api/v1/orders/{ORDER}/cases", json={"subject": "x"},
                           headers={"X-CSRF-Token": portal_rows.csrf(client)})
    assert accepted.status_code == 201


def test_no_credentials_is_a_401_problem(client, conn):
    response = client.get("/api/v1/orders")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 401 and "API token" in body["detail"]


def test_revoked_token_is_refused(client, token, conn):
    conn.execute("DELETE FROM app.portal_tokens WHERE purpose = 'api'")
    response = client.get("/api/v1/orders", headers=_auth(token))
    assert response.status_code == 401 and "not valid" in response.get_json()["detail"]


def test_invalid_case_is_a_422_problem_listing_each_field(client, token):
    response = client.post(f"/api/v1/orders/{ORDER}/cases", headers=_auth(token),
                           json={"subject": "x" * 300, "priority": "Urgent"})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 422 and body["title"] == "Unprocessable Content"
    assert set(body["errors"]) == {"Subject", "Priority"}
    assert "at most 255 characters" in body["detail"]


def test_lone_surrogate_in_json_is_a_422(client, token):
    raw = '{"subject": "bad \\ud800 text"}'
    headers = {**_auth(token), "Content-Type": "application/json"}
    response = client.post(f"/api/v1/orders/{ORDER}/cases", headers=headers, data=raw)
    assert response.status_code == 422 and "not valid Unicode" in response.get_json()["detail"]


def test_wrong_type_is_a_422(client, token):
    response = client.post(f"/api/v1/orders/{ORDER}/cases", headers=_auth(token), json={"subject": ["a", "list"]})
    assert response.status_code == 422 and "must be text" in response.get_json()["detail"]


def test_body_that_is_not_json_is_a_400_problem(client, token):
    response = client.post(f"/api/v1/orders/{ORDER}/cases", headers=_auth(token), data="subject=x")
    assert response.status_code == 400 and "JSON object" in response.get_json()["detail"]


def test_profile_patch_changes_only_fields_sent(client, token, conn):
    response = client.patch("/api/v1/profile", headers=_auth(token), json={"mailing_city": "Capital City"})
    body = response.get_json()
    assert body["mailing_city"] == "Capital City" and body["phone"] == "+1 555 0100"
    assert body["sync"]["state"] == "pending"


def test_profile_patch_refuses_other_fields(client, token):
    response = client.patch("/api/v1/profile", headers=_auth(token), json={"email": "x@example.com"})
    assert response.status_code == 422 and "email" in response.get_json()["detail"]


def test_unknown_api_path_is_a_404_problem(client, token):
    response = client.get("/api/v1/nothing", headers=_auth(token))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_profile_page_creates_a_token_shown_once(client, ann):
    page = client.post("/profile/api-tokens", data={"name": "script", "csrf_token": portal_rows.csrf(client)})
    token = page.get_data(as_text=True).split('<code class="token">')[1].split("<")[0]
    fresh = client.application.test_client()
    assert fresh.get("/api/v1/profile", headers=_auth(token)).get_json()["email"] == EMAIL_A
    assert token not in client.get("/profile").get_data(as_text=True)


def test_openapi_document_describes_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        path = "/".join(part.split(":")[-1] if part.startswith("{") else part for part in path.split("/"))
        path = path.replace("{int:", "{")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in described, f"{method} {path} is missing from openapi.json"


def test_openapi_document_has_no_dangling_references(client):
    document = client.get("/api/v1/openapi.json").get_json()
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node = document
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]


def test_failed_case_is_sent_again_through_the_api(client, token, conn):
    case = client.post(f"/api/v1/orders/{ORDER}/cases", headers=_auth(token), json={"subject": "Late"}).get_json()
    refusals.refuse(conn, "case", "no", err="no")
    assert client.get(case["status_url"], headers=_auth(token)).get_json()["label"] == "Could not be saved: no"
    again = client.post(f"{case['url']}/retry", headers=_auth(token))
    assert again.status_code == 200 and again.get_json()["sync"]["state"] == "pending"
    assert refusals.archive_states(conn, "case") == ["REQUEUE"]
    assert client.post(f"{case['url']}/retry", headers=_auth(token)).status_code == 409  # already on its way


def test_failed_profile_change_is_sent_again_through_the_api(client, token, conn):
    client.patch("/api/v1/profile", headers=_auth(token), json={"phone": "+44 20 7946 0000"})
    assert client.post("/api/v1/profile/retry", headers=_auth(token)).status_code == 409
    refusals.refuse(conn, "contact", "INVALID_PHONE")
    body = client.post("/api/v1/profile/retry", headers=_auth(token)).get_json()
    assert body["phone"] == "+44 20 7946 0000" and body["sync"]["state"] == "pending"
    assert refusals.archive_states(conn, "contact") == ["REQUEUE"]


def test_case_status_is_never_cached(client, token):
    case = client.post(f"/api/v1/orders/{ORDER}/cases", headers=_auth(token), json={"subject": "Late"}).get_json()
    response = client.get(case["status_url"], headers=_auth(token))
    assert response.headers["Cache-Control"] == "no-store"


def test_invoices_through_the_api(client, token):
    invoices = client.get("/api/v1/invoices", headers=_auth(token)).get_json()["invoices"]
    assert [i["name"] for i in invoices] == ["INV-A-2026-01"]
    one = client.get(f"/api/v1/invoices/{invoices[0]['id']}", headers=_auth(token)).get_json()
    assert one["amount"] == 4650 and one["due_date"] == "2026-02-28"
    assert one["sync"] == invoices[0]["sync"] == {**one["sync"], "state": "saved", "label": "Saved", "final": True}


def test_an_unsafe_call_without_any_credential_is_a_401_not_a_csrf_refusal(client):
    response = client.patch("/api/v1/profile", json={"phone": "555"})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert "Log in first" in response.get_json()["detail"]
