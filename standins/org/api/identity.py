"""Who the caller is: the OpenID Connect UserInfo endpoint and the identity URL (/id/<orgId>/<userId>).

Both take the access token as `Authorization: Bearer …` or an `oauth_token` (or `access_token`)
parameter and answer in Salesforce's shapes; the username is the session's own. A client logging in
with an access token (`sf org login access-token`) asks userinfo who it is, then /services/data for
the highest version. Neither counts against DailyApiRequests, as on a real org (they are not under
/services/data). A missing or bad token is 403 `Missing_OAuth_Token` / `Bad_OAuth_Token` (plain text).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, jsonify, request

from standins.org.api.common import (
    API_VERSIONS,
    ORG_ID,
    TIME_ZONE,
    USER_EMAIL,
    USER_FIRST_NAME,
    USER_ID,
    USER_LAST_MODIFIED,
    USER_LAST_NAME,
    bearer_token,
    instance_url,
)
from standins.org.ids import full_id

# The API URLs both answers list, with `{version}` left for the client unless it asks for one.
URL_PATHS = {
    "enterprise": "/services/Soap/c/{version}/{org15}",
    "metadata": "/services/Soap/m/{version}/{org15}",
    "partner": "/services/Soap/u/{version}/{org15}",
    "rest": "/services/data/v{version}/",
    "sobjects": "/services/data/v{version}/sobjects/",
    "search": "/services/data/v{version}/search/",
    "query": "/services/data/v{version}/query/",
    "recent": "/services/data/v{version}/recent/",
    "tooling_soap": "/services/Soap/T/{version}/{org15}",
    "tooling_rest": "/services/data/v{version}/tooling/",
    "profile": "/{user15}",
    "feeds": "/services/data/v{version}/chatter/feeds",
    "groups": "/services/data/v{version}/chatter/groups",
    "users": "/services/data/v{version}/chatter/users",
    "feed_items": "/services/data/v{version}/chatter/feed-items",
    "feed_elements": "/services/data/v{version}/chatter/feed-elements",
}


def identity_url() -> str:
    """The user's identity URL (the token response's `id`, userinfo's `sub`), on the host the request came to."""
    return f"{instance_url()}/id/{ORG_ID}/{USER_ID}"


def urls(version: str = "{version}") -> dict:
    """The `urls` map: API endpoints, `{version}` literally unless a version is given."""
    base = instance_url()
    found = {name: base + path.format(version=version, org15=ORG_ID[:15], user15=USER_ID[:15])
             for name, path in URL_PATHS.items()}
    found["custom_domain"] = base
    return found


def utc_offset_ms() -> int:
    """The time zone's standard offset from UTC in milliseconds, as Salesforce reports `utcOffset`."""
    now = datetime.now(ZoneInfo(TIME_ZONE))
    return int((now.utcoffset() - now.dst()).total_seconds() * 1000)


def photos() -> dict:
    """The profile photo URLs (full size and thumbnail)."""
    return {"picture": f"{instance_url()}/profilephoto/005/F", "thumbnail": f"{instance_url()}/profilephoto/005/T"}


def identity(username: str, version: str = "{version}") -> dict:
    """The identity service's answer for the org's user, logged in as `username`."""
    return {
        "id": identity_url(), "asserted_user": True, "user_id": USER_ID, "organization_id": ORG_ID,
        "username": username, "nick_name": username.split("@")[0],
        "display_name": f"{USER_FIRST_NAME} {USER_LAST_NAME}", "email": USER_EMAIL, "email_verified": True,
        "first_name": USER_FIRST_NAME, "last_name": USER_LAST_NAME, "timezone": TIME_ZONE, "photos": photos(),
        "addr_street": None, "addr_city": None, "addr_state": None, "addr_country": "US", "addr_zip": None,
        "mobile_phone": None, "mobile_phone_verified": False, "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None}, "urls": urls(version), "active": True,
        "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": utc_offset_ms(),
        "last_modified_date": USER_LAST_MODIFIED, "is_app_installed": True,
    }


def userinfo(username: str, version: str = "{version}") -> dict:
    """The OpenID Connect UserInfo answer for the org's user, logged in as `username`."""
    return {
        "sub": identity_url(), "user_id": USER_ID, "organization_id": ORG_ID, "preferred_username": username,
        "nickname": username.split("@")[0], "name": f"{USER_FIRST_NAME} {USER_LAST_NAME}", "email": USER_EMAIL,
        "email_verified": True, "given_name": USER_FIRST_NAME, "family_name": USER_LAST_NAME,
        "zoneinfo": TIME_ZONE, "photos": photos(), "profile": urls(version)["profile"],
        "picture": photos()["picture"], "address": {"country": "US"}, "is_salesforce_integration_user": False,
        "urls": urls(version), "active": True, "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
        "utcOffset": utc_offset_ms(), "updated_at": USER_LAST_MODIFIED.replace(".000+0000", "Z"),
        "is_app_installed": True,
    }


def access_token() -> str:
    """The access token of an identity request: the Authorization header, else a query or form parameter."""
    return bearer_token() or request.values.get("oauth_token") or request.values.get("access_token") or ""


def refusal(status: int, code: str) -> Response:
    """The identity service's error: a status and a bare code as plain text."""
    return Response(code, status=status, content_type="text/plain")


def init_app(app, org):
    """Register userinfo and the identity URL."""

    def caller():
        """(username, None) for a live session, else (None, the refusal)."""
        token = access_token()
        if not token:
            return None, refusal(403, "Missing_OAuth_Token")
        session = org.session_claims(token)
        if session is None:
            return None, refusal(403, "Bad_OAuth_Token")
        return session["u"], None

    def version_and_format():
        """The `version` asked for ({version} if none), or a refusal of the version or format."""
        version = request.args.get("version", "{version}")
        if version == "latest":
            version = API_VERSIONS[-1]
        if version != "{version}" and version not in API_VERSIONS:
            return None, refusal(406, "Invalid_Version")
        if request.args.get("format", "json").lower() != "json":
            return None, refusal(406, "The local org answers identity requests in JSON only (format=json)")
        return version, None

    @app.route("/services/oauth2/userinfo", methods=["GET", "POST"])
    def oauth_userinfo():
        username, refused = caller()
        version, bad_request = version_and_format()
        if refused or bad_request:
            return refused or bad_request
        return jsonify(userinfo(username, version))

    @app.route("/id/<org_id>/<user_id>", methods=["GET", "POST"])
    def identity_service(org_id, user_id):
        username, refused = caller()
        if refused:
            return refused
        if full_id(org_id) != ORG_ID:
            return refusal(403, "Wrong_Org")
        if full_id(user_id) != USER_ID:
            return refusal(404, "Bad_Id")
        version, bad_request = version_and_format()
        return bad_request or jsonify(identity(username, version))
