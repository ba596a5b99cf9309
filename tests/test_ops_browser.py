"""Every operator page in a real headless Chromium at a phone's width (390 px): nothing scrolls sideways, the
console stays free of errors (a CSP refusal would be one), and the navigation bar leads to each page."""

import json

from tests import people
from tests.browser import BROWSER
from tests.invoicing_rows import add_accounts, add_orders

pytestmark = BROWSER

PHONE = {"width": 390, "height": 844}
PAGES = ["/ops/sync", "/ops/invoicing", "/ops/exports", "/ops/model"]
# How far the page is wider than the window (0: no sideways scroll), and which elements stick out.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter(el => el.getBoundingClientRect().right > width + 1 && !el.closest(".table-scroll"))
    .slice(0, 5).map(el => el.tagName.toLowerCase() + "." + [...el.classList].join("."));
  return {extra: document.documentElement.scrollWidth - width, wide};
}"""


def watch(page) -> list[str]:
    """Send the operator's credentials on every request; collect the URLs that fail (the favicon aside: base.html
    has none yet), since Chromium's console names no URL for a failed load."""
    page.set_extra_http_headers(people.ops_headers())
    page.set_viewport_size(PHONE)
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    return failed


def console_errors(page) -> list[str]:
    """The console's errors, but for failed loads (watch() lists those with their URL)."""
    return [e for e in page.errors if not e.startswith("Failed to load resource")]


def busy_console(conn, as_connect):
    """Something in every table of the sync console: a waiting change, a refused row, a failed write, samples."""
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Waiting', 'w-1')")
    refused = json.dumps({"op": "INSERT", "msg": "A case from the web needs a subject, and this message is long "
                                                 "enough to need wrapping on a phone's narrow screen."})
    with as_connect(conn):
        conn.execute("INSERT INTO salesforce.case (subject, external_id__c, _hc_lastop, _hc_err) VALUES "
                     "('x', 'c1', 'FAILED', %s)", (refused,))
    conn.execute(
        "INSERT INTO salesforce._trigger_log_archive (id, txid, created_at, updated_at, processed_at, state, action, "
        "table_name, record_id, \"values\", sf_message) VALUES (900001, 1, now(), now(), now(), 'FAILED', 'INSERT', "
        "'contact', 1, '\"lastname\"=>NULL', 'REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]')")
    conn.execute("INSERT INTO app.sync_health_samples (taken_at, object_name, backlog, oldest_pending_age_s, failed) "
                 "SELECT now() - m * interval '1 minute', 'Contact', m, m * 60, 0 FROM generate_series(0, 30) m")


def test_every_operator_page_fits_a_phone_without_console_errors(server, page, conn, as_connect, redis, env):
    busy_console(conn, as_connect)
    accounts = add_accounts(conn, 2)
    add_orders(conn, [(a, "2026-10-10", 100, "Shipped") for a in accounts])
    failed = watch(page)

    # Start an invoice run and a background export from their pages: their status pages are operator pages too.
    # (A 202 leaves the browser on the form's URL: the status pages' own URLs are on the pages.)
    page.goto(f"{server}/ops/invoicing")
    page.fill("#start-period", "2026-10")
    page.click("button:has-text('Start invoice run')")
    run_page = page.get_attribute("#run", "data-status-url").removesuffix(".json")
    page.goto(f"{server}/ops/exports")
    page.click("button:has-text('Export in the background') >> nth=0")
    job_page = page.get_attribute("[data-job-status]", "data-job-status").removesuffix(".json")
    assert run_page.startswith("/ops/invoicing/runs/") and job_page.startswith("/ops/jobs/")

    for path in [*PAGES, run_page, job_page]:
        page.goto(f"{server}{path}")
        page.wait_for_selector("nav[aria-label='Operator pages']")
        assert page.evaluate(OVERFLOW) == {"extra": 0, "wide": []}, path
        assert page.locator("h1").count() == 1, path
    assert console_errors(page) == [] and failed == []


def test_the_navigation_bar_leads_to_every_operator_page(server, page, conn):
    failed = watch(page)
    page.goto(f"{server}/ops/sync")
    for label, path in [("Invoicing", "/ops/invoicing"), ("Exports", "/ops/exports"), ("Model", "/ops/model"),
                        ("Sync", "/ops/sync")]:
        page.click(f"nav[aria-label='Operator pages'] >> text={label}")
        page.wait_for_url(f"{server}{path}")
        assert page.locator("nav[aria-label='Operator pages'] [aria-current='page']").inner_text() == label
    assert console_errors(page) == [] and failed == []
