"""In a real headless Chromium: the journey of a change, live, while the real local Connect syncs it.

The page polls its journey.json (web/static/journey.js); the test runs the local Connect's push and
pull from its own thread, as the engine's cycle would, and waits for the page to show each hop — no
reload (a marker set on the window survives), no sleeps. "View in Salesforce" opens the local org,
whose /lightning/r/<Object>/<Id>/view answers as a real org's does.
"""

from dataclasses import replace

import pytest
from playwright.sync_api import expect

from standins.org import refusals
from tests import browser, portal_rows
from tests.browser import BROWSER
from tests.portal_rows import ACCOUNT_A, CONTACT_A, order_sfid
from web import create_app

pytestmark = BROWSER
ORDER = order_sfid(ACCOUNT_A, 10)
PLACEHOLDER = "given by Salesforce once it arrives"


@pytest.fixture
def app(app_config, conn, redis, local_org):
    """The app with its org URL set to the local org, as `make run` sets it."""
    cfg = replace(app_config, salesforce=replace(app_config.salesforce, org_url=local_org.url))
    return create_app({"APP": cfg, "TESTING": True})


@pytest.fixture
def synced(conn, portal_world, local_org, engine):
    """The portal's rows in Postgres and, with the same Ids, in the local org; Ann can log in."""
    return browser.portal_and_org(conn, local_org)


def _log_in(page, server, path):
    page.goto(f"{server}{path}")
    page.fill("input[name=email]", portal_rows.EMAIL_A)
    page.fill("input[name=password]", portal_rows.PASSWORD)
    page.click("button[type=submit]")


def _file_case(page, server, subject="One box arrived damaged"):
    _log_in(page, server, f"/orders/{ORDER}")
    page.fill("input[name=subject]", subject)
    page.click("button:has-text('File a case')")
    page.wait_for_selector("section.journey [data-hop='captured'][data-state='done']")
    page.evaluate("window.stillTheSamePage = true")


def _same_page(page) -> bool:
    return page.evaluate("window.stillTheSamePage === true")


def _hop(page, name, state):
    return page.wait_for_selector(f"section.journey [data-hop='{name}'][data-state='{state}']", timeout=15_000)


def test_a_filed_case_goes_pending_to_synced_and_its_number_arrives_without_a_reload(server, page, conn, synced,
                                                                                       engine):
    _file_case(page, server)
    assert page.locator("[data-journey-field=casenumber]").text_content() == PLACEHOLDER
    assert page.locator("[data-hop='picked_up'] .journey-word").text_content() == "Waiting"
    assert page.locator(".sync").text_content().strip() == "Sending to Salesforce…"
    assert page.locator("section.journey ol[aria-live=polite]").count() == 1

    engine.push_once()
    answered = _hop(page, "answered", "done")
    assert "SUCCESS: saved as 500" in answered.text_content()
    _hop(page, "synced", "current")
    page.wait_for_selector(".sync.saved:has-text('Saved')")
    assert page.locator("[data-journey-field=casenumber]").text_content() == PLACEHOLDER

    engine.pull_once("Case")
    _hop(page, "synced", "done")
    [case] = synced.salesforce().query("SELECT Id, CaseNumber FROM Case WHERE Subject = 'One box arrived damaged'")[
        "records"]
    page.wait_for_selector(f"[data-journey-field=casenumber]:has-text('{case['CaseNumber']}')")
    assert _same_page(page)
    assert not [e for e in page.errors if "Content Security Policy" in e]

    page.click("text=View in Salesforce")
    page.wait_for_url(f"**/o/Case/{case['Id']}*")
    assert page.locator("text=One box arrived damaged").count() >= 1


def test_an_org_edit_appears_on_the_profile_without_a_reload(server, page, conn, synced, engine):
    _log_in(page, server, "/profile")
    page.wait_for_selector("section.journey[data-final='true']")
    page.evaluate("window.stillTheSamePage = true")
    assert page.input_value("input[name=mailingcity]") == "Springfield"

    synced.salesforce().Contact.update(CONTACT_A, {"MailingCity": "Lima", "FirstName": "Annie"})
    engine.pull_once("Contact")
    expect(page.locator("input[name=mailingcity]")).to_have_value("Lima", timeout=20_000)
    page.wait_for_selector("h1[data-journey-field=name]:has-text('Annie Lee')")
    assert _same_page(page)


def test_a_refused_case_shows_failed_with_its_message_then_goes_through_when_sent_again(server, page, conn, synced,
                                                                                        engine):
    with synced.org.connection() as c:
        key = refusals.switch_on(c, synced.org.schema, "validation", "Case", "Subject", "Subjects are checked.")
    _file_case(page, server)
    engine.push_once()
    refused = _hop(page, "answered", "failed")
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subjects are checked." in refused.text_content()
    assert refused.query_selector(".journey-word").text_content() == "Refused"
    page.wait_for_selector(".sync.failed:has-text('Could not be saved: Subjects are checked.')")
    assert _same_page(page)

    with synced.org.connection() as c:
        refusals.remove(c, synced.org.schema, key)
    page.click("form.journey-retry button:has-text('Send again')")
    page.wait_for_selector("[data-hop='picked_up'] .journey-detail:has-text('REQUEUE')")
    engine.push_once()
    _hop(page, "answered", "done")
    page.wait_for_selector(".sync.saved:has-text('Saved')")
