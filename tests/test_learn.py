"""The walkthrough (/learn) and the landing page: six steps with real commands, local actions only locally.

Locally `make run` sets LOCAL_ORG_URL and DEMO_LOGINS (local-only settings): the landing page lists
the demo logins, the operator pages and the local org, and each step of /learn has an action on the
local org or the portal. On Heroku neither is set: no logins, no local links. The validation rule
the walkthrough switches on is a page of the local org (one click), tested here against the org's API.
"""

import dataclasses
import json
import re

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from core import config, logins
from core.paths import ROOT
from standins import run
from standins.org import seed
from tests import people, portal_rows
from web import create_app, learn

APP_JSON = json.loads((ROOT / "app.json").read_text())
DOCS = (ROOT / "docs" / "deploy.md").read_text() + (ROOT / "docs" / "local-standins.md").read_text()


def local_config(app_config, org_url, logins=((portal_rows.EMAIL_A, portal_rows.PASSWORD),)):
    """The configuration `make run` gives the web process: the local org's URL and the demo logins."""
    return dataclasses.replace(
        app_config, salesforce=dataclasses.replace(app_config.salesforce, local_url=org_url),
        demo_logins=tuple(config.DemoLogin(email, password) for email, password in logins) or None)


@pytest.fixture
def local_client(app_config, conn, redis, portal_world):
    """A visitor of the app as `make run` runs it (the org's URL need not answer for these pages)."""
    portal_rows.make_user(conn)
    app = create_app({"APP": local_config(app_config, "http://127.0.0.1:5100"), "TESTING": True})
    return app.test_client()


def _links(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page)


# ---- the landing page -----------------------------------------------------------------------------

def test_the_landing_page_links_the_walkthrough(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/learn"' in page and "Heroku Connect in six steps" in page


def test_on_heroku_the_landing_page_lists_no_logins_no_operator_pages_and_no_local_org(client):
    page = client.get("/").get_data(as_text=True)
    assert "Demo logins" not in page and "connect-demo" not in page and portal_rows.PASSWORD not in page
    assert "/ops/sync" not in page and "127.0.0.1" not in page and 'id="local"' not in page


def test_locally_the_landing_page_lists_the_demo_logins_operator_pages_and_local_org(local_client):
    page = local_client.get("/").get_data(as_text=True)
    row = re.search(r'<table class="[^"]*demo-logins">.*?</table>', page, re.S)[0]
    assert portal_rows.EMAIL_A in row and portal_rows.PASSWORD in row
    assert {"/ops/sync", "/ops/invoicing", "/ops/exports", "http://127.0.0.1:5100/"} <= set(_links(page))
    assert "OPS_PASSWORD" in page and people.OPS_PASSWORD not in page  # named, never shown: a secret on Heroku


def test_the_demo_logins_on_the_landing_page_log_in(local_client):
    page = local_client.get("/").get_data(as_text=True)
    email, password = re.findall(r"<td><code>([^<]+)</code></td><td><code>([^<]+)</code></td>", page)[0]
    login = local_client.post("/login", data={"email": email, "password": password,
                                              "csrf_token": portal_rows.csrf(local_client)})
    assert login.status_code == 302 and local_client.get("/orders").status_code == 200


def test_make_run_hands_the_demo_logins_it_creates_to_the_processes(conn, env, portal_world):
    environment = {"DATABASE_URL": env.database_url, "REDIS_URL": env.redis_url, "APP_ENV": "development"}
    shown = run.demo_logins(environment)
    given = config.load(environment).demo_logins
    assert [login.email for login in given] == [portal_rows.EMAIL_A, portal_rows.EMAIL_B]
    assert all(f"{login.email} / {login.password}" in "\n".join(shown) for login in given)
    assert logins.authenticate(conn, "salesforce", "app", given[0].email, given[0].password)


# ---- the walkthrough ------------------------------------------------------------------------------

def _steps(page: str) -> list[str]:
    """The step titles, as a screen reader reads them ("Step 1: …")."""
    titles = re.findall(r'<h2 class="slds-card__header-title">(.*?)</h2>', page, re.S)
    return [re.sub(r"^\d+\s*", "", re.sub(r"<[^>]+>", "", t)).strip() for t in titles]


def test_the_walkthrough_shows_the_six_setup_steps_in_order(client):
    page = client.get("/learn").get_data(as_text=True)
    assert _steps(page) == [f"Step {n}: {title}" for n, title in enumerate([
                      "Create the app with Heroku Postgres", "Add the Heroku Connect add-on",
                      "Authorize a Salesforce org", "Map objects and fields", "Test the sync both ways",
                      "Deploy code that uses the tables"], 1)]


def test_each_step_shows_its_heroku_commands(client):
    page = client.get("/learn").get_data(as_text=True)
    blocks = re.findall(r'<pre class="learn-commands"><code>(.*?)</code></pre>', page, re.S)
    assert len(blocks) == 6
    for needed, block in zip(["heroku create", "heroku addons:create herokuconnect:demo", "heroku connect:sf:auth",
                              "heroku connect:import sql/connect/mapping.json", "verify-sync",
                              "git push heroku main"], blocks, strict=True):
        assert needed in block


def test_the_walkthrough_commands_are_the_ones_the_docs_and_app_json_use():
    plans = set(APP_JSON["addons"])
    for step in learn.STEPS:
        for command in step.commands:
            words = command.split()
            if words[:2] == ["heroku", "addons:create"]:
                assert words[2] in plans, command  # the plans the Heroku Button creates
            assert " ".join(words[:2]) in DOCS, command  # each command is one the docs explain


def test_on_heroku_the_walkthrough_offers_no_local_actions(client):
    page = client.get("/learn").get_data(as_text=True)
    assert "Try it" not in page and "127.0.0.1" not in page and "connect-demo" not in page
    assert "make run" in page  # where to try it instead


def test_locally_each_step_has_an_action(local_client):
    page = local_client.get("/learn").get_data(as_text=True)
    assert page.count('<h3 class="slds-text-heading_small">Try it</h3>') == 6
    links = set(_links(page))
    newest = portal_rows.order_sfid(portal_rows.ACCOUNT_A, portal_rows.ORDERS_A)  # the latest effective date
    assert {"/learn/mapping", "http://127.0.0.1:5100/", f"http://127.0.0.1:5100/o/Contact/{portal_rows.CONTACT_A}",
            "/profile", f"/orders/{newest}#new-case", "http://127.0.0.1:5100/rules/case-subject", "/cases",
            "/ops/sync", "/healthz"} <= links
    assert portal_rows.EMAIL_A in page  # which login the portal's actions need


def test_the_walkthrough_links_resolve_in_the_app(local_client):
    local_client.post("/login", data={"email": portal_rows.EMAIL_A, "password": portal_rows.PASSWORD,
                                      "csrf_token": portal_rows.csrf(local_client)})
    page = local_client.get("/learn").get_data(as_text=True)
    for link in {link.partition("#")[0] for link in _links(page) if link.startswith("/") and "/ops/" not in link}:
        assert local_client.get(link).status_code == 200, link


def test_the_mapping_page_lists_every_mapping_with_its_fields(client):
    page = client.get("/learn/mapping").get_data(as_text=True)
    for mapping in json.loads((ROOT / "sql" / "connect" / "mapping.json").read_text())["mappings"]:
        section = re.search(rf'id="mapping-{mapping["object_name"]}".*?</section>', page, re.S)[0]
        assert all(f"<code>{field}</code>" in section for field in mapping["config"]["fields"])
        if mapping["config"]["access"] == "read_write":
            assert "read-write" in section and mapping["config"].get("upsert_field", "") in section


# ---- the local org's rule page ---------------------------------------------------------------------

def _switch_rule(local_org, session, active):
    page = session.get(local_org.url + "/rules/case-subject").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    return session.post(local_org.url + "/rules/case-subject", data={"csrf": token, "active": active})


def test_the_org_rule_page_switches_the_case_subject_rule_on_and_off_in_one_click(local_org, sf, portal_world):
    seed.from_connect_schema(local_org.org)
    org_view = requests.Session()
    org_view.trust_env = False
    assert 'id="rule-state">No' in org_view.get(local_org.url + "/rules/case-subject").text
    page = _switch_rule(local_org, org_view, "on").text
    assert 'id="rule-state">Yes' in page and "Switch the rule off" in page

    case = {"Subject": "Test order never came", "AccountId": portal_rows.ACCOUNT_A}
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Case.create(case)
    error = refused.value.content[0]
    assert error["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and error["fields"] == ["Subject"]
    assert error["message"] == 'Describe the problem in the subject: it must not contain "test".'
    assert sf.Case.create({**case, "Subject": "Order never came"})["success"]  # the rule's condition only

    assert 'id="rule-state">No' in _switch_rule(local_org, org_view, "off").text
    assert sf.Case.create(case)["success"]


def test_the_org_rule_page_refuses_a_post_without_its_form_token(local_org):
    response = requests.post(local_org.url + "/rules/case-subject", data={"active": "on"})
    assert response.status_code == 400
    assert 'id="rule-state">No' in requests.get(local_org.url + "/rules/case-subject").text
