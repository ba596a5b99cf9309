"""What JavaScript and CLI clients (jsforce, the Salesforce CLI) meet at the HTTP level, before any resource.

Key order as Salesforce sends it (the CLI prints records in it), 204s without a body type, and CORS
for a browser page on a loopback origin (jsforce in a local web app).
"""

import json

import pytest
import requests

ORIGIN = "http://localhost:3000"


@pytest.fixture
def api(local_org, sf):
    """(base URL of the REST API, headers with the session) for plain HTTP calls."""
    return f"{local_org.url}/services/data/v59.0", {"Authorization": f"Bearer {sf.session_id}"}


def keys(response) -> list:
    """The top-level keys of a JSON object response, in the order they were sent."""
    return list(json.loads(response.text))


def test_query_answers_keep_salesforce_key_order(sf, api):
    base, auth = api
    sf.Account.create({"Name": "Acme", "Phone": "555-0100"})
    r = requests.get(f"{base}/query", params={"q": "SELECT Phone, Name, Id FROM Account"}, headers=auth)
    assert keys(r) == ["totalSize", "done", "records"]
    record = json.loads(r.text)["records"][0]
    assert list(record) == ["attributes", "Phone", "Name", "Id"]
    assert list(record["attributes"]) == ["type", "url"]


def test_create_answers_and_errors_keep_salesforce_key_order(api):
    base, auth = api
    created = requests.post(f"{base}/sobjects/Account", json={"Name": "Acme"}, headers=auth)
    assert created.status_code == 201 and keys(created) == ["id", "success", "errors"]
    missing = requests.get(f"{base}/sobjects/Account/001000000000999AAA", headers=auth)
    assert missing.status_code == 404
    assert list(json.loads(missing.text)[0]) == ["message", "errorCode", "fields"]


def test_a_204_has_no_body_and_no_content_type(api):
    base, auth = api
    record_id = requests.post(f"{base}/sobjects/Account", json={"Name": "Acme"}, headers=auth).json()["id"]
    updated = requests.patch(f"{base}/sobjects/Account/{record_id}", json={"Phone": "1"}, headers=auth)
    deleted = requests.delete(f"{base}/sobjects/Account/{record_id}", headers=auth)
    for r in (updated, deleted):
        assert r.status_code == 204 and r.content == b"" and "Content-Type" not in r.headers


def test_a_loopback_page_s_preflight_is_answered_without_a_session_and_not_counted(local_org, sf, api):
    base, auth = api
    before = sf.limits()["DailyApiRequests"]["Remaining"]
    r = requests.options(f"{base}/sobjects/Account", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,sforce-call-options"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in r.headers["Access-Control-Allow-Methods"] and "PATCH" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type,sforce-call-options"
    # the limits call itself is one request; the preflight is none
    assert sf.limits()["DailyApiRequests"]["Remaining"] == before - 1


def test_a_loopback_page_reads_answers_and_errors(api):
    base, auth = api
    ok = requests.get(f"{base}/limits", headers={**auth, "Origin": "http://127.0.0.1:5173"})
    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
    assert "Origin" in ok.headers["Vary"]
    refused = requests.get(f"{base}/limits", headers={"Authorization": "Bearer nope", "Origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert refused.json()[0]["errorCode"] == "INVALID_SESSION_ID"


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://localhost.example.com", "null"])
def test_other_origins_get_no_cors_headers(api, origin):
    base, auth = api
    pre = requests.options(f"{base}/sobjects/Account",
                           headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers and pre.status_code == 401
    got = requests.get(f"{base}/limits", headers={**auth, "Origin": origin})
    assert got.status_code == 200 and "Access-Control-Allow-Origin" not in got.headers
