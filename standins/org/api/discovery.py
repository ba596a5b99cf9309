"""Discovery: the API versions the org serves (`/services/data`) and the resources of one (`/services/data/vNN.N`).

Clients read these before anything else: the Salesforce CLI and jsforce take the highest version
from the list, Postman collections start from the resources map. The list of versions needs no
session, as on a real org; the resources map does (common.py's hook checks it and the version).
"""

from flask import jsonify

from standins.org.api.common import API_VERSIONS, BASE, ORG_ID, USER_ID, instance_url

# The resources a real org lists for a version, in its order; `identity` is a full URL, the rest
# /services/data/vNN.N/<name>. The local org answers only some of them (docs/local-org.md).
RESOURCES = (
    "tooling", "metadata", "eclair", "folders", "prechatForms", "contact-tracing", "jsonxform", "chatter",
    "payments", "tabs", "appMenu", "quickActions", "queryAll", "commerce", "wave", "iot", "analytics",
    "search", "smartdatadiscovery", "identity", "composite", "parameterizedSearch", "fingerprint", "theme",
    "nouns", "domino", "event", "serviceTemplates", "recent", "connect", "licensing", "limits", "process",
    "async-queries", "query", "jobs", "localizedvalue", "mobile", "emailConnect", "consent", "tokenizer",
    "compactLayouts", "knowledgeManagement", "sobjects", "actions", "support",
)
# Three releases a year since Winter '11 (20.0): Winter 'YY ships in the autumn before YY.
SEASONS = ("Winter", "Spring", "Summer")


def release_label(version: str) -> str:
    """The release that introduced an API version: 59.0 → "Winter '24", 60.0 → "Spring '24"."""
    n = int(float(version)) - 20
    return f"{SEASONS[n % 3]} '{11 + n // 3:02d}"


def versions() -> list[dict]:
    """The Versions resource: every version served, oldest first."""
    return [{"label": release_label(v), "url": f"/services/data/v{v}", "version": v} for v in API_VERSIONS]


def resources(version: str) -> dict:
    """The Resources by Version resource."""
    return {name: (f"{instance_url()}/id/{ORG_ID}/{USER_ID}" if name == "identity"
                   else f"/services/data/v{version}/{name}") for name in RESOURCES}


def init_app(app, org):
    """Register the discovery resources."""

    @app.get("/services/data")
    @app.get("/services/data/")
    def api_versions():
        return jsonify(versions())

    @app.get(BASE)
    @app.get(BASE + "/")
    def api_resources(version):
        return jsonify(resources(version))
