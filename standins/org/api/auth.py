"""Logging in, the ways clients do: SOAP `login`, and OAuth 2.0 (token endpoint, web-server flow, revoke).

- SOAP `login` (/services/Soap/u/NN.N): simple-salesforce with a username, password and security token;
  jsforce's `conn.login` without OAuth settings.
- `POST /services/oauth2/token`: `password` (simple-salesforce with consumer_key/consumer_secret,
  jsforce with OAuth2 settings), `authorization_code` (the web-server flow, with PKCE, as
  `sf org login web` runs it) and `refresh_token`; answers and errors in Salesforce's JSON.
- `GET /services/oauth2/authorize`: a login page; it redirects back with a one-time code.
- `POST /services/oauth2/revoke`: ends a session, or a refresh token and every session issued from it.

Any client id is accepted (no connected apps here). A user whose password was set through the REST
API (`sobjects/User/<id>/password`, standins/org/passwords.py) logs in with it; for everyone else
LOCAL_ORG_PASSWORD, when set, is the one password every flow accepts, and otherwise any password is.
Access tokens are sessions (Org.session_id), refresh tokens and codes are signed the same way, so
none lives in a process's memory.
"""

import base64
import hashlib
import hmac
import os
import secrets
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from flask import Response, jsonify, redirect, render_template, request

from standins.org import passwords
from standins.org.api.common import (
    ORG_ID,
    ORGANIZATION_NAME,
    PROFILE_ID,
    TIME_ZONE,
    USER_EMAIL,
    USER_FIRST_NAME,
    USER_ID,
    USER_LAST_NAME,
    instance_url,
)
from standins.org.api.identity import identity_url

# Token shapes as Salesforce's look: refresh tokens begin 5Aep861, authorization codes aPrx.
REFRESH_PREFIX, CODE_PREFIX = "5Aep861", "aPrx"
CODE_SECONDS = 15 * 60  # an authorization code is good for 15 minutes, once
DEFAULT_SCOPE = "api refresh_token"
SOAP_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid "
    "username, password, security token; or user locked out.</faultstring><detail><sf:LoginFault "
    'xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid '
    "username, password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>"
    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)


def login_outcome(org, username: str | None, password: str | None) -> tuple[bool, bool]:
    """(accepted, expired) for a login's password, with any security token appended.

    The user's own password if one was set, else LOCAL_ORG_PASSWORD if set, else any password.
    """
    with org.connection() as conn:
        own = passwords.login_check(conn, org.schema, username, password)
    if own is not None:
        return own
    expected = os.environ.get("LOCAL_ORG_PASSWORD")
    return not expected or hmac.compare_digest((password or "").encode(), expected.encode()), False


def soap_user_info(username: str) -> str:
    """The login result's <userInfo>, the fields of the partner WSDL's GetUserInfoResult in its order."""
    fields = [
        ("accessibilityMode", "false"), ("chatterExternal", "false"), ("currencySymbol", "$"),
        ("orgAttachmentFileSizeLimit", "5242880"), ("orgDefaultCurrencyIsoCode", "USD"),
        ("orgDefaultCurrencyLocale", "en_US"), ("orgDisallowHtmlAttachments", "false"),
        ("orgHasPersonAccounts", "false"), ("organizationId", ORG_ID), ("organizationMultiCurrency", "false"),
        ("organizationName", ORGANIZATION_NAME), ("profileId", PROFILE_ID), ("roleId", None),
        ("sessionSecondsValid", "7200"), ("userDefaultCurrencyIsoCode", None), ("userEmail", USER_EMAIL),
        ("userFullName", f"{USER_FIRST_NAME} {USER_LAST_NAME}"), ("userId", USER_ID), ("userLanguage", "en_US"),
        ("userLocale", "en_US"), ("userName", username), ("userTimeZone", TIME_ZONE), ("userType", "Standard"),
        ("userUiSkin", "Theme3"),
    ]
    return "<userInfo>" + "".join(f'<{k} xsi:nil="true"/>' if v is None else f"<{k}>{escape(v)}</{k}>"
                                  for k, v in fields) + "</userInfo>"


def soap_credentials(text: bytes) -> tuple[str | None, str | None]:
    """The username and password of a SOAP login request (None where missing or not XML)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None, None
    found = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in root.iter() if isinstance(el.tag, str)}
    return found.get("username"), found.get("password")


def nonce() -> str:
    """A random id for a token, the handle its revocation is recorded under."""
    return secrets.token_urlsafe(9)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def oauth_error(error: str, description: str, status: int = 400):
    """An OAuth error as the token endpoint answers it."""
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response


def back_to(redirect_uri: str, query: dict):
    """The redirect to the client's callback with `query` added to it."""
    return redirect(redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(query))


def signature(identity: str, issued_at: str, key: str) -> str:
    """The token response's `signature`: HMAC-SHA256 of id + issued_at, keyed by the client secret."""
    return base64.b64encode(hmac.new(key.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()).decode()


def init_app(app, org):
    """Register the login endpoints."""

    def tokens(username, *, secret=None, scope=None, refresh=None, grant=None):
        """A token response: a new session for `username` (and the refresh token, if one was issued)."""
        issued_at, ident = str(int(time.time() * 1000)), identity_url()
        answer = {"access_token": org.session_id(username, grant=grant)}
        if refresh:
            answer["refresh_token"] = refresh
        answer["signature"] = signature(ident, issued_at, secret or org.secret)
        if scope:
            answer["scope"] = scope
        answer.update(instance_url=instance_url(), id=ident, token_type="Bearer", issued_at=issued_at)
        return jsonify(answer)

    def refresh_claims(token):
        """The claims of a live refresh token, or None."""
        claims = org.verify("refresh", token.removeprefix(REFRESH_PREFIX)) if token.startswith(REFRESH_PREFIX) else None
        return None if claims is None or org.revoked(claims["n"]) else claims

    @app.post("/services/Soap/u/<version>")
    def soap_login(version):
        username, password = soap_credentials(request.get_data())
        accepted, expired = login_outcome(org, username, password) if username else (False, False)
        if not accepted:
            return Response(SOAP_FAULT, status=500, content_type="text/xml")
        base = instance_url()
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{base}/services/Soap/m/{escape(version)}/{ORG_ID}</metadataServerUrl>"
            f"<passwordExpired>{str(expired).lower()}</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{escape(version)}/{ORG_ID}</serverUrl>"
            f"<sessionId>{escape(org.session_id(username))}</sessionId><userId>{USER_ID}</userId>"
            f"{soap_user_info(username)}</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(envelope, content_type="text/xml")

    def password_grant(form, client_id, secret):
        """The username-password flow: no refresh token, as Salesforce gives none for it."""
        if not secret:
            return oauth_error("invalid_client", "invalid client credentials")
        if not form.get("username") or not login_outcome(org, form["username"], form.get("password"))[0]:
            return oauth_error("invalid_grant", "authentication failure")
        return tokens(form["username"], secret=secret)

    def refresh_grant(form, client_id, secret):
        """A new session from a refresh token the same client was given."""
        claims = refresh_claims(form.get("refresh_token", ""))
        if claims is None or claims["c"] != client_id:
            return oauth_error("invalid_grant", "expired access/refresh token")
        return tokens(claims["u"], secret=secret, scope=claims["s"], grant=claims["n"])

    def code_grant(form, client_id, secret):
        """The web-server flow's exchange: a one-time code (and its PKCE verifier) for tokens."""
        claims = org.verify("code", form.get("code", "").removeprefix(CODE_PREFIX))
        if claims is None or claims["c"] != client_id or claims["x"] < time.time():
            return oauth_error("invalid_grant", "invalid authorization code")
        if form.get("redirect_uri") != claims["r"]:
            return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
        if claims["p"] and pkce_challenge(form.get("code_verifier", "")) != claims["p"]:
            return oauth_error("invalid_grant", "invalid code verifier")
        if not org.revoke(claims["n"]):  # each code works once
            return oauth_error("invalid_grant", "invalid authorization code")
        if not {"refresh_token", "offline_access"} & set(claims["s"].split()):  # `full` alone gives none
            return tokens(claims["u"], secret=secret, scope=claims["s"])
        grant = nonce()
        refresh = REFRESH_PREFIX + org.sign("refresh", {"u": claims["u"], "c": client_id, "s": claims["s"], "n": grant})
        return tokens(claims["u"], secret=secret, scope=claims["s"], refresh=refresh, grant=grant)

    grants = {"password": password_grant, "refresh_token": refresh_grant, "authorization_code": code_grant}

    @app.post("/services/oauth2/token")
    def oauth_token():
        form = request.values
        grant = grants.get(form.get("grant_type", ""))
        if grant is None:
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if not form.get("client_id"):
            return oauth_error("invalid_client_id", "client identifier invalid")
        return grant(form, form["client_id"], form.get("client_secret"))

    @app.route("/services/oauth2/authorize", methods=["GET", "POST"])
    def oauth_authorize():
        params = request.values
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if not client_id:
            return Response("error=invalid_client_id&error_description=client identifier invalid", 400)
        if not redirect_uri:
            return Response("error=redirect_uri_missing&error_description=redirect_uri must be provided", 400)
        if params.get("response_type") != "code":
            return back_to(redirect_uri, {"error": "unsupported_response_type",
                                          "error_description": "response type not supported",
                                          "state": params.get("state", "")})
        hidden = {k: params.get(k, "") for k in ("response_type", "client_id", "redirect_uri", "state", "scope",
                                                   "code_challenge", "code_challenge_method")}
        if request.method == "GET" or not params.get("username"):
            return render_template("org/authorize.html", hidden=hidden, username=params.get("login_hint", ""))
        if not login_outcome(org, params["username"], params.get("password"))[0]:
            return render_template("org/authorize.html", hidden=hidden, username=params["username"],
                                   error="Please check your username and password."), 200
        code = CODE_PREFIX + org.sign("code", {
            "u": params["username"], "c": client_id, "r": redirect_uri, "s": params.get("scope") or DEFAULT_SCOPE,
            "p": params.get("code_challenge", ""), "x": int(time.time()) + CODE_SECONDS,
            "n": nonce()})
        query = {"code": code} | ({"state": params["state"]} if params.get("state") else {})
        return back_to(redirect_uri, query)

    @app.route("/services/oauth2/revoke", methods=["GET", "POST"])
    def oauth_revoke():
        token = request.values.get("token", "")
        claims = org.session_claims(token) or refresh_claims(token)
        if claims is None:
            return oauth_error("invalid_token", "Token was invalid")
        org.revoke(claims["n"])
        return Response(status=200)
