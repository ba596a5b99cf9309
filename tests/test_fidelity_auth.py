"""The local org lets clients find it, log in and ask who they are, in Salesforce's own shapes.

simple-salesforce logs in by SOAP, by session id + instance URL and by OAuth's password flow; the
Salesforce CLI and jsforce use the token endpoint, userinfo, the identity URL and /services/data,
driven here with plain HTTP.
"""

import base64
import hashlib
import hmac
import secrets
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from core import db
from standins.org import limits
from standins.org.api.common import ORG_ID, TIME_ZONE, USER_ID
from standins.org.client import session

USERNAME = "ada@local.org"
CALLBACK = "http://localhost:1717/OauthRedirect"
TOKEN_KEYS = {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
USERINFO_KEYS = {
    "sub", "user_id", "organization_id", "preferred_username", "nickname", "name", "email", "email_verified",
    "given_name", "family_name", "zoneinfo", "photos", "profile", "picture", "address",
    "is_salesforce_integration_user", "urls", "active", "user_type", "language", "locale", "utcOffset",
    "updated_at", "is_app_installed",
}
URL_KEYS = {"enterprise", "metadata", "partner", "rest", "sobjects", "search", "query", "recent", "tooling_soap",
            "tooling_rest", "profile", "feeds", "groups", "users", "feed_items", "feed_elements", "custom_domain"}


@pytest.fixture
def http():
    """Plain HTTP, as curl or Postman would send it."""
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.fixture
def no_password(monkeypatch):
    monkeypatch.delenv("LOCAL_ORG_PASSWORD", raising=False)


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("LOCAL_ORG_PASSWORD", "s3cret")
    return "s3cret"


def password_grant(http, url, password="anything", **extra):
    return http.post(f"{url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "my-app", "client_secret": "shh", "username": USERNAME,
        "password": password, **extra})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def api_requests_used(local_org):
    with db.connect(local_org.org.database_url) as conn:
        return limits.used(conn, local_org.org.schema, "DailyApiRequests")


def web_server_login(http, url, *, scope="api refresh_token", verifier=None):
    """The authorization-code flow with PKCE, as `sf org login web` runs it; returns the token answer."""
    verifier = verifier or secrets.token_urlsafe(43)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {"response_type": "code", "client_id": "PlatformCLI", "redirect_uri": CALLBACK, "state": "xyz",
              "scope": scope, "code_challenge": challenge}
    page = http.get(f"{url}/services/oauth2/authorize", params=params)
    assert page.status_code == 200 and 'name="password"' in page.text
    back = http.post(f"{url}/services/oauth2/authorize", data={**params, "username": USERNAME, "password": "x"},
                     allow_redirects=False)
    assert back.status_code == 302 and back.headers["Location"].startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(back.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0], verifier


def exchange(http, url, code, verifier, client_id="PlatformCLI"):
    return http.post(f"{url}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": client_id, "redirect_uri": CALLBACK,
        "code_verifier": verifier})


# --- logging in with simple-salesforce ---------------------------------------------------------

def test_simple_salesforce_logs_in_by_soap(local_org, no_password):
    sf = local_org.salesforce()
    assert sf.session_id.startswith(ORG_ID + "!")
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_the_soap_login_answer_carries_the_user_info_clients_read(local_org, http, no_password):
    envelope = ('<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
                'soap/envelope/"><soapenv:Body><login xmlns="urn:partner.soap.sforce.com">'
                f"<username>{USERNAME}</username><password>p&amp;w</password></login></soapenv:Body>"
                "</soapenv:Envelope>")
    answer = http.post(f"{local_org.url}/services/Soap/u/59.0", data=envelope,
                       headers={"Content-Type": "text/xml", "SOAPAction": "login"})
    assert answer.status_code == 200
    ns = {"p": "urn:partner.soap.sforce.com"}
    result = ET.fromstring(answer.content).find(".//p:loginResponse/p:result", ns)
    # jsforce takes the instance URL from serverUrl: it must be the scheme and host the client called
    assert result.findtext("p:serverUrl", namespaces=ns) == f"{local_org.url}/services/Soap/u/59.0/{ORG_ID}"
    assert result.findtext("p:userId", namespaces=ns) == USER_ID
    info = {el.tag.split("}")[1]: el.text for el in result.find("p:userInfo", ns)}
    assert info["organizationId"] == ORG_ID and info["userId"] == USER_ID and info["userName"] == USERNAME
    assert info["userTimeZone"] == TIME_ZONE and info["orgDefaultCurrencyIsoCode"] == "USD"
    assert info["userFullName"] and info["userEmail"] and info["organizationName"]
    assert info["sessionSecondsValid"] == "7200" and info["userType"] == "Standard"


def test_a_wrong_soap_password_is_invalid_login(local_org, password):
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(username=USERNAME, password="wrong", security_token="", instance=urlsplit(local_org.url).netloc,
                   domain="login", session=session(local_org.url))
    assert caught.value.code == "INVALID_LOGIN"
    assert "Invalid username, password, security token" in caught.value.auth_message


def test_simple_salesforce_logs_in_by_oauth_password_flow(local_org, password):
    sf = Salesforce(username=USERNAME, password=password, consumer_key="my-app", consumer_secret="shh",
                    session=session(local_org.url))
    assert sf.sf_instance == urlsplit(local_org.url).netloc
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_simple_salesforce_oauth_with_a_wrong_password_fails_as_salesforce_does(local_org, password):
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(username=USERNAME, password="wrong", consumer_key="my-app", consumer_secret="shh",
                   session=session(local_org.url))
    assert (caught.value.code, caught.value.auth_message) == ("invalid_grant", "authentication failure")


def test_simple_salesforce_uses_a_session_id_and_instance_url(local_org, http, no_password):
    token = password_grant(http, local_org.url).json()
    sf = Salesforce(session_id=token["access_token"], instance_url=token["instance_url"],
                    session=session(local_org.url))
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


# --- the token endpoint ------------------------------------------------------------------------

def test_the_password_grant_answers_salesforce_token_response(local_org, http, password):
    answer = password_grant(http, local_org.url, password)
    assert answer.status_code == 200
    token = answer.json()
    assert set(token) == TOKEN_KEYS  # no refresh token for this flow, as on Salesforce
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == local_org.url
    assert token["id"] == f"{local_org.url}/id/{ORG_ID}/{USER_ID}"
    assert token["issued_at"].isdigit() and len(token["issued_at"]) == 13  # milliseconds
    expected = hmac.new(b"shh", (token["id"] + token["issued_at"]).encode(), hashlib.sha256).digest()
    assert base64.b64decode(token["signature"]) == expected
    limits_answer = http.get(f"{local_org.url}/services/data/v59.0/limits/", headers=bearer(token["access_token"]))
    assert limits_answer.status_code == 200 and "DailyApiRequests" in limits_answer.json()


def test_every_login_is_a_session_of_its_own(local_org, http, no_password):
    first, second = (password_grant(http, local_org.url).json()["access_token"] for _ in range(2))
    assert first != second


@pytest.mark.parametrize("change, error, description", [
    ({"password": "wrong"}, "invalid_grant", "authentication failure"),
    ({"username": ""}, "invalid_grant", "authentication failure"),
    ({"grant_type": "client_credentials"}, "unsupported_grant_type", "grant type not supported"),
    ({"grant_type": ""}, "unsupported_grant_type", "grant type not supported"),
    ({"client_id": ""}, "invalid_client_id", "client identifier invalid"),
    ({"client_secret": ""}, "invalid_client", "invalid client credentials"),
])
def test_token_errors_are_salesforce_oauth_errors(local_org, http, password, change, error, description):
    answer = password_grant(http, local_org.url, **({"password": password} | change))
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


def test_the_web_server_flow_gives_a_refresh_token_that_gives_new_sessions(local_org, http, no_password):
    code, verifier = web_server_login(http, local_org.url)
    answer = exchange(http, local_org.url, code, verifier)
    assert answer.status_code == 200
    token = answer.json()
    assert set(token) == TOKEN_KEYS | {"refresh_token", "scope"}
    assert token["scope"] == "api refresh_token"
    again = http.post(f"{local_org.url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": "PlatformCLI"})
    assert again.status_code == 200
    refreshed = again.json()
    assert set(refreshed) == TOKEN_KEYS | {"scope"}  # the refresh token stays the same one
    assert refreshed["access_token"] != token["access_token"]
    me = http.get(f"{local_org.url}/services/oauth2/userinfo", headers=bearer(refreshed["access_token"]))
    assert me.json()["preferred_username"] == USERNAME


def test_an_authorization_code_works_once_and_only_with_its_verifier(local_org, http, no_password):
    code, verifier = web_server_login(http, local_org.url)
    wrong = exchange(http, local_org.url, code, "not-the-verifier")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(http, local_org.url, code, verifier).status_code == 200
    reused = exchange(http, local_org.url, code, verifier)
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant", "error_description": "invalid authorization code"}


def test_without_the_refresh_token_scope_there_is_no_refresh_token(local_org, http, no_password):
    code, verifier = web_server_login(http, local_org.url, scope="api")
    assert "refresh_token" not in exchange(http, local_org.url, code, verifier).json()


def test_the_login_page_refuses_a_wrong_password(local_org, http, password):
    answer = http.post(f"{local_org.url}/services/oauth2/authorize", data={
        "response_type": "code", "client_id": "PlatformCLI", "redirect_uri": CALLBACK,
        "username": USERNAME, "password": "wrong"}, allow_redirects=False)
    assert answer.status_code == 200 and "check your username and password" in answer.text


@pytest.mark.parametrize("refresh_token, client_id", [("5Aep861forged.0123456789abcdef0123456789abcdef", "PlatformCLI"),
                                                      (None, "another-app")])
def test_a_bad_refresh_token_is_invalid_grant(local_org, http, no_password, refresh_token, client_id):
    if refresh_token is None:
        code, verifier = web_server_login(http, local_org.url)
        refresh_token = exchange(http, local_org.url, code, verifier).json()["refresh_token"]
    answer = http.post(f"{local_org.url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id})
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_a_revoked_session_is_invalid_session_id(local_org, http, no_password):
    token = password_grant(http, local_org.url).json()["access_token"]
    assert http.post(f"{local_org.url}/services/oauth2/revoke", data={"token": token}).status_code == 200
    answer = http.get(f"{local_org.url}/services/data/v59.0/sobjects/", headers=bearer(token))
    assert answer.status_code == 401 and answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    again = http.post(f"{local_org.url}/services/oauth2/revoke", data={"token": token})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_revoking_a_refresh_token_ends_it_and_its_sessions(local_org, http, no_password):
    code, verifier = web_server_login(http, local_org.url)
    token = exchange(http, local_org.url, code, verifier).json()
    refreshed = http.post(f"{local_org.url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": "PlatformCLI"}).json()
    assert http.post(f"{local_org.url}/services/oauth2/revoke", data={"token": token["refresh_token"]}).ok
    for access in (token["access_token"], refreshed["access_token"]):
        assert http.get(f"{local_org.url}/services/data/v59.0/", headers=bearer(access)).status_code == 401
    answer = http.post(f"{local_org.url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": "PlatformCLI"})
    assert answer.json()["error"] == "invalid_grant"


# --- discovery ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/services/data", "/services/data/"])
def test_the_versions_list_needs_no_session(local_org, http, path):
    answer = http.get(local_org.url + path)
    assert answer.status_code == 200
    versions = answer.json()
    assert all(set(v) == {"label", "url", "version"} for v in versions)
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    labels = {v["version"]: v["label"] for v in versions}
    assert (labels["31.0"], labels["60.0"], labels["61.0"], labels["62.0"]) == (
        "Summer '14", "Spring '24", "Summer '24", "Winter '25")
    numbers = [float(v["version"]) for v in versions]
    assert numbers == sorted(numbers) and numbers[0] == 31.0 and numbers[-1] >= 62.0


@pytest.mark.parametrize("path", ["/services/data/v59.0", "/services/data/v59.0/"])
def test_a_versions_resources_need_a_session(local_org, http, path):
    refused = http.get(local_org.url + path)
    assert refused.status_code == 401 and refused.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    sf = local_org.salesforce()
    answer = http.get(local_org.url + path, headers=bearer(sf.session_id))
    assert answer.status_code == 200
    resources = answer.json()
    for name in ("sobjects", "query", "queryAll", "search", "parameterizedSearch", "limits", "composite", "jobs",
                 "tooling", "recent", "metadata"):
        assert resources[name] == f"/services/data/v59.0/{name}"
    assert resources["identity"] == f"{local_org.url}/id/{ORG_ID}/{USER_ID}"


@pytest.mark.parametrize("path", ["/services/data/v99.0", "/services/data/v99.0/sobjects/",
                                  "/services/data/v20.0/query/?q=SELECT+Id+FROM+Account", "/services/data/v59/limits/"])
def test_a_version_the_org_does_not_serve_is_not_found(local_org, http, path):
    answer = http.get(local_org.url + path, headers=bearer(local_org.salesforce().session_id))
    assert answer.status_code == 404
    assert answer.json()[0]["errorCode"] == "NOT_FOUND"


def test_a_bad_bearer_is_invalid_session_id_as_a_json_list(local_org, http):
    answer = http.get(f"{local_org.url}/services/data/v59.0/sobjects/", headers=bearer("00D000000000001EAA!junk"))
    assert answer.status_code == 401
    assert answer.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID",
                              "fields": []}]


# --- identity ----------------------------------------------------------------------------------

def test_userinfo_answers_the_openid_connect_fields(local_org, http, no_password):
    token = password_grant(http, local_org.url).json()
    answer = http.get(f"{local_org.url}/services/oauth2/userinfo", headers=bearer(token["access_token"]))
    assert answer.status_code == 200
    me = answer.json()
    assert set(me) == USERINFO_KEYS
    assert me["sub"] == token["id"]
    assert (me["user_id"], me["organization_id"], me["preferred_username"]) == (USER_ID, ORG_ID, USERNAME)
    assert me["zoneinfo"] == TIME_ZONE and me["utcOffset"] == -8 * 3600 * 1000
    assert set(me["urls"]) == URL_KEYS
    assert me["urls"]["rest"] == f"{local_org.url}/services/data/v{{version}}/"
    assert me["urls"]["partner"] == f"{local_org.url}/services/Soap/u/{{version}}/{ORG_ID[:15]}"
    assert me["email_verified"] is True and me["active"] is True and me["user_type"] == "STANDARD"


def test_the_identity_url_answers_with_a_bearer_or_an_oauth_token_parameter(local_org, http, no_password):
    token = password_grant(http, local_org.url).json()
    by_header = http.get(token["id"], headers=bearer(token["access_token"]))
    by_param = http.get(token["id"], params={"oauth_token": token["access_token"], "format": "json"})
    assert by_header.status_code == by_param.status_code == 200
    me = by_param.json()
    assert me == by_header.json()
    assert me["id"] == token["id"] and me["asserted_user"] is True
    assert (me["user_id"], me["organization_id"], me["username"]) == (USER_ID, ORG_ID, USERNAME)
    for key in ("nick_name", "display_name", "email", "first_name", "last_name", "photos", "last_modified_date"):
        assert me[key]
    assert me["timezone"] == TIME_ZONE and me["active"] is True and me["user_type"] == "STANDARD"
    assert set(me["urls"]) == URL_KEYS
    assert me["urls"]["sobjects"] == f"{local_org.url}/services/data/v{{version}}/sobjects/"
    versioned = http.get(token["id"], params={"version": "59.0"}, headers=bearer(token["access_token"])).json()
    assert versioned["urls"]["query"] == f"{local_org.url}/services/data/v59.0/query/"


def test_the_identity_url_refuses_as_the_identity_service_does(local_org, http, no_password):
    token = password_grant(http, local_org.url).json()
    assert (http.get(token["id"]).status_code, http.get(token["id"]).text) == (403, "Missing_OAuth_Token")
    bad = http.get(token["id"], headers=bearer("00D000000000001EAA!junk"))
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")
    other_org = http.get(f"{local_org.url}/id/00D000000000002EAA/{USER_ID}", headers=bearer(token["access_token"]))
    assert (other_org.status_code, other_org.text) == (403, "Wrong_Org")
    userinfo = http.get(f"{local_org.url}/services/oauth2/userinfo", headers=bearer("junk"))
    assert (userinfo.status_code, userinfo.text) == (403, "Bad_OAuth_Token")


def test_logging_in_with_an_access_token_finds_the_user_then_the_highest_version(local_org, http, no_password):
    """What `sf org login access-token` does: userinfo for the username, /services/data for the version."""
    access = password_grant(http, local_org.url).json()["access_token"]
    me = http.get(f"{local_org.url}/services/oauth2/userinfo", headers=bearer(access)).json()
    assert me["preferred_username"] == USERNAME
    latest = max(http.get(f"{local_org.url}/services/data").json(), key=lambda v: float(v["version"]))
    answer = http.get(f"{local_org.url}{latest['url']}/query", params={"q": "SELECT Id FROM Account"},
                      headers=bearer(access))
    assert answer.status_code == 200 and answer.json()["totalSize"] == 0


def test_login_discovery_and_identity_do_not_count_as_api_requests(local_org, http, no_password):
    before = api_requests_used(local_org)
    token = password_grant(http, local_org.url).json()
    http.get(f"{local_org.url}/services/data")
    http.get(f"{local_org.url}/services/oauth2/userinfo", headers=bearer(token["access_token"]))
    http.get(token["id"], headers=bearer(token["access_token"]))
    assert api_requests_used(local_org) == before
    http.get(f"{local_org.url}/services/data/v59.0/", headers=bearer(token["access_token"]))
    assert api_requests_used(local_org) == before + 1


def test_a_doubled_slash_after_the_instance_url_still_reaches_the_api(local_org, http, no_password):
    """The Salesforce CLI asks `<instance_url>/` + `/services/data/v51.0/…` after a web login."""
    access = password_grant(http, local_org.url).json()["access_token"]
    answer = http.get(f"{local_org.url}//services/data/v51.0/query", params={"q": "SELECT Id FROM Account"},
                      headers=bearer(access))
    assert answer.status_code == 200 and answer.json()["totalSize"] == 0
