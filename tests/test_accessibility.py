"""Every HTML page passes axe-core with no violation and never scrolls sideways, at 1100 and 390 px wide.

The pages come from the app's url_map (every GET rule that answers HTML), so a page added later is
checked without touching this file; a rule with arguments takes them from the demo world (an order,
a case, an invoice, real invitation and reset tokens, a job, an invoicing run), or fails saying which
filler to add to FILLERS. The local org's view is checked the same way (tests/browser.py: the checks).
"""

import hashlib
from pathlib import Path

import pytest

from core import config, logins
from tests import people, portal_rows
from tests.browser import AXE, BROWSER, assert_accessible, assert_no_sideways_scroll
from tests.portal_rows import ACCOUNT_A, order_sfid
from web import create_app

pytestmark = BROWSER

WIDTHS = (1100, 390)
VENDOR = Path(__file__).parent / "vendor" / "axe-core"

# Rules that answer something other than a page (files, JSON, CSV, the API, redirects).
NOT_PAGES = {"static", "favicon", "health.healthz", "jobs.file", "jobs.ops_file"}
NOT_PAGE_SUFFIXES = (".json", ".csv", "/file")


def _url_map_rules():
    """Every GET rule of the app that may answer HTML (the app built without touching a database)."""
    cfg = config.load({"DATABASE_URL": "postgresql://127.0.0.1/unused", "REDIS_URL": "redis://127.0.0.1:1",
                       "SECRET_KEY": "x" * 64, "APP_ENV": "test", "OPS_USERNAME": people.OPS_USER,
                       "OPS_PASSWORD": people.OPS_PASSWORD})
    app = create_app({"APP": cfg, "TESTING": True})
    return sorted(
        (rule.endpoint, rule.rule) for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in NOT_PAGES and not rule.rule.startswith("/api/")
        and not rule.rule.endswith(NOT_PAGE_SUFFIXES)
    )


def _ops(rule: str) -> bool:
    """Operator pages (HTTP Basic) live under /ops."""
    return rule.startswith("/ops")


PAGES = [pytest.param(endpoint, rule, id=endpoint) for endpoint, rule in _url_map_rules()]


class World:
    """The demo world the pages show, made through the app as a user would (test client) or as core does."""

    def __init__(self, client, conn):
        self.client, self.conn = client, conn
        self.user = portal_rows.make_user(conn)
        portal_rows.session_for(client, self.user)

    def _location(self, response) -> str:
        assert response.status_code in (201, 202, 302, 303), response.get_data(as_text=True)[:500]
        return response.headers["Location"].rsplit("/", 1)[1]

    def _as_operator(self, path: str, **form):
        """POST an operator's form (HTTP Basic, and the session's CSRF token)."""
        return self.client.post(path, headers=people.ops_headers(),
                                data={"csrf_token": portal_rows.csrf(self.client), **form})

    def case(self) -> dict:
        """A case Ann filed about her order 3."""
        response = self.client.post(f"/orders/{order_sfid(ACCOUNT_A, 3)}/cases", data={
            "csrf_token": portal_rows.csrf(self.client), "subject": "One box arrived damaged",
            "description": "The corner of the second box was crushed.", "type": "Problem"})
        return {"key": self._location(response)}

    def customer_job(self) -> dict:
        """Ann's background export of her orders."""
        response = self.client.post("/orders/exports", data={"csrf_token": portal_rows.csrf(self.client)})
        return {"job_id": self._location(response)}

    def ops_job(self) -> dict:
        """An operator's background export of all orders."""
        return {"job_id": self._location(self._as_operator("/ops/exports/orders"))}

    def invoicing_run(self) -> dict:
        """An invoicing run an operator started for January 2026."""
        return {"run_id": self._location(self._as_operator("/ops/invoicing", period="2026-01"))}

    def invitation(self) -> dict:
        """A fresh invitation for Bob (account B)."""
        _, token = logins.invite(self.conn, "salesforce", "app", portal_rows.EMAIL_B)
        return {"token": token}

    def reset(self) -> dict:
        """A password-reset link for Ann."""
        return {"token": logins.start_reset(self.conn, "salesforce", "app", portal_rows.EMAIL_A)}


# For each page with arguments: where its arguments come from.
FILLERS = {
    "portal.order": lambda w: {"order_sfid": order_sfid(ACCOUNT_A, 3)},
    "portal.case": World.case,
    "portal.invoice": lambda w: {"key": "a0IA00000000001AAA"},
    "auth.accept_invitation": World.invitation,
    "auth.reset_password": World.reset,
    "jobs.status": World.customer_job,
    "jobs.ops_status": World.ops_job,
    "invoicing.run_page": World.invoicing_run,
}


def _visit_at_every_width(page, url: str) -> None:
    """Open the page at each width: axe finds nothing, and nothing scrolls sideways."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        response = page.goto(url)
        assert response.status < 500, f"{url}: {response.status}"
        assert_no_sideways_scroll(page)
        assert_accessible(page)


def _path(rule: str, values: dict) -> str:
    """The rule's path with its arguments filled in."""
    path = rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value)).replace(f"<int:{name}>", str(value))
    return path


@pytest.mark.parametrize(("endpoint", "rule"), PAGES)
def test_page_has_no_axe_violation_and_no_sideways_scroll(server, page, client, conn, portal_world, endpoint,
                                                          rule):
    world = World(client, conn)
    values = {}
    if "<" in rule:
        assert endpoint in FILLERS, f"{rule}: add a filler for {endpoint} to FILLERS"
        values = FILLERS[endpoint](world)
    if _ops(rule):
        page.set_extra_http_headers(people.ops_headers())
    elif not endpoint.startswith("auth."):
        page.context.add_cookies([{"name": "session", "value": client.get_cookie("session").value, "url": server}])
    url = server + _path(rule, values)
    response = page.request.get(url)
    if not response.headers.get("content-type", "").startswith("text/html"):
        pytest.skip(f"{rule} answers {response.headers.get('content-type')}, not a page")
    _visit_at_every_width(page, url)


def test_error_page(server, page):
    _visit_at_every_width(page, f"{server}/no-such-page")
    assert page.locator("h1").text_content().strip() == "Not Found"


def test_login_page_with_an_error(server, page, conn, portal_world):
    page.goto(f"{server}/login")
    page.fill("input[name=email]", portal_rows.EMAIL_A)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert_accessible(page)


def test_order_page_with_case_form_errors(server, page, client, conn, portal_world):
    World(client, conn)
    page.context.add_cookies([{"name": "session", "value": client.get_cookie("session").value, "url": server}])
    page.goto(f"{server}/orders/{order_sfid(ACCOUNT_A, 3)}")
    page.click("button:has-text('File a case')")
    error = page.locator("#case-subject-error")
    error.wait_for()
    assert page.locator("#case-subject").get_attribute("aria-describedby") == "case-subject-error"
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        assert_no_sideways_scroll(page)
        assert_accessible(page)


@pytest.mark.parametrize("path", ["/", "/o/Account", "/o/Account/{account}", "/rules/case-subject",
                                  "/services/oauth2/authorize?response_type=code&client_id=cli&redirect_uri=http://127.0.0.1/cb"])
def test_local_org_page(local_org, sf, page, path):
    account = sf.Account.create({"Name": "Acme Corp"})["id"]
    _visit_at_every_width(page, local_org.url + path.format(account=account))


def test_axe_is_the_vendored_release():
    record = (VENDOR / "VERSION").read_text()
    assert record.startswith("axe-core 4.14.1 (npm), MPL-2.0")
    for name in ("axe.min.js", "LICENSE", "LICENSE-3RD-PARTY.txt"):
        assert f"{hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()}  {name}" in record
    assert AXE.read_text().startswith("/*! axe v4.14.1")
    assert "Mozilla Public License, version 2.0" in (VENDOR / "LICENSE").read_text()
