"""The walkthrough's local actions followed end to end in a real headless Chromium, as a new user would.

The app is served with LOCAL_ORG_URL pointing at the test's local org and the demo customer's login
in DEMO_LOGINS, as `make run` serves it; the local Connect's engine runs its sync cycles from the
test (`engine`), the way the `connect` process of `make run` runs them every few seconds.
"""

import dataclasses

import pytest

from core import config
from tests import browser, portal_rows
from tests.browser import BROWSER
from web import create_app

pytestmark = BROWSER

PHONE_WIDTH = 390


@pytest.fixture
def app(app_config, conn, redis, local_org):
    """The app as `make run` configures it: the local org's URL and the demo login (overrides conftest's)."""
    cfg = dataclasses.replace(
        app_config, salesforce=dataclasses.replace(app_config.salesforce, local_url=local_org.url),
        demo_logins=(config.DemoLogin(portal_rows.EMAIL_A, portal_rows.PASSWORD),))
    return create_app({"APP": cfg, "TESTING": True})


@pytest.fixture
def world(conn, portal_world, local_org, engine):
    """The demo customer in Postgres and, with the same Ids, in the local org; their portal login."""
    return browser.portal_and_org(conn, local_org)


def log_in(page, server):
    """Log in to the portal as the demo customer the landing page lists."""
    page.goto(f"{server}/login")
    page.fill("input[name=email]", portal_rows.EMAIL_A)
    page.fill("input[name=password]", portal_rows.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/orders")


def open_walkthrough(page, server):
    """The landing page, then its link to the walkthrough."""
    page.goto(f"{server}/")
    page.click("#start-walkthrough")
    page.wait_for_selector("h1:has-text('Heroku Connect in six steps')")


def blocked(page) -> list[str]:
    """Console errors of scripts or styles the Content Security Policy refused (none may be)."""
    return [e for e in page.errors if "Content Security Policy" in e]


def sideways_overflow(page) -> int:
    """How many pixels the page scrolls sideways (0: none)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_switch_on_the_rule_file_a_case_see_it_refused_switch_off_send_again(server, page, world, engine, conn):
    log_in(page, server)
    open_walkthrough(page, server)

    page.click("#try-refusal a:has-text('Switch on the rule')")
    page.wait_for_url(f"{world.url}/rules/case-subject")
    page.click("button:has-text('Switch the rule on')")
    assert page.text_content("#rule-state") == "Yes"

    open_walkthrough(page, server)
    page.click("#try-refusal a:has-text('File a case')")
    page.fill("input[name=subject]", "Test: the parcel never came")
    page.click("button:has-text('File a case')")
    page.wait_for_selector(".sync.pending")

    engine.push_once()  # the local Connect sends it; the org's rule refuses it
    row = conn.execute("SELECT _hc_lastop FROM salesforce.\"case\" WHERE subject LIKE 'Test:%'").fetchone()
    assert row["_hc_lastop"] == "FAILED"
    page.wait_for_selector(".sync.failed", timeout=15_000)  # the badge polls, then the page shows why
    assert 'it must not contain "test"' in page.text_content("main")
    case_url = page.url

    page.goto(f"{world.url}/rules/case-subject")
    page.click("button:has-text('Switch the rule off')")
    assert page.text_content("#rule-state") == "No"

    page.goto(case_url)
    page.click("button:has-text('Send again')")
    page.wait_for_selector(".sync.pending")
    engine.push_once()
    page.wait_for_selector(".sync.saved", timeout=15_000)
    assert world.salesforce().query("SELECT Subject FROM Case WHERE Subject LIKE 'Test:%'")["totalSize"] == 1
    assert not blocked(page)


def test_edit_the_contact_in_the_org_and_see_it_arrive_on_the_profile(server, page, world, engine):
    log_in(page, server)
    open_walkthrough(page, server)

    page.click("#try-org-edit a:has-text('Edit the Contact in the org')")
    page.wait_for_url(f"{world.url}/o/Contact/{portal_rows.CONTACT_A}")
    page.fill("#f-MailingCity", "Capital City")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Saved.")

    engine.pull_once("Contact")  # the local Connect's next read of the Contact mapping

    open_walkthrough(page, server)
    page.click("#try-org-edit a:has-text('Open the profile')")
    page.wait_for_url(f"{server}/profile")
    assert page.input_value("input[name=mailingcity]") == "Capital City"
    assert not blocked(page)


def test_open_the_mapping_from_the_walkthrough(server, page, world):
    open_walkthrough(page, server)
    page.click("a:has-text('Open the mapping')")
    page.wait_for_selector("#mapping-Case")
    page.click("#mapping-Contact a:has-text('its records in the local org')")
    page.wait_for_url(f"{world.url}/o/Contact")


@pytest.mark.parametrize("path", ["/", "/learn", "/learn/mapping"])
def test_no_sideways_scroll_at_390_px_and_nothing_blocked(server, page, world, path):
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    page.goto(f"{server}{path}")
    assert sideways_overflow(page) == 0
    assert not blocked(page)
