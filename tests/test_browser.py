"""In a real headless Chromium (Debian's package, driven by Playwright): log in, open an order, file a case,
see its sync badge. Saves the screenshots docs/portal.md shows.

Runs when /usr/bin/chromium exists (`apt-get install chromium`; CI installs it); otherwise it is
skipped, saying so. Playwright's own browser downloads are never used.
"""

import os
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from core.paths import ROOT
from standins import services
from tests import portal_rows

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
IMAGES = ROOT / "docs" / "images"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install Debian's chromium package"),
]



@pytest.fixture
def server(app):
    """The app served for real on 127.0.0.1 (werkzeug, in a thread)."""
    httpd = make_server("127.0.0.1", services.free_port(), app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.fixture
def page(tmp_path):
    """A page in a fresh headless Chromium profile."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            viewport={"width": 1100, "height": 760},
        )
        page = browser.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        yield page
        browser.close()


def test_log_in_open_an_order_file_a_case_and_see_it_sending(server, page, conn, portal_world, as_connect):
    portal_rows.make_user(conn)
    IMAGES.mkdir(parents=True, exist_ok=True)

    page.goto(f"{server}/orders")
    page.fill("input[name=email]", portal_rows.EMAIL_A)
    page.fill("input[name=password]", portal_rows.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Your orders')")
    assert page.locator("table.orders tbody tr").count() == 25
    page.screenshot(path=str(IMAGES / "portal-orders.png"))

    page.click("text=00000010")
    page.wait_for_selector("h1:has-text('Order 00000010')")
    assert page.locator("text=Widget").count() >= 1
    page.screenshot(path=str(IMAGES / "portal-order.png"), full_page=True)

    page.fill("input[name=subject]", "One box arrived damaged")
    page.fill("textarea[name=description]", "The corner of the second box was crushed.")
    page.select_option("select[name=type]", "Problem")
    page.click("button:has-text('File a case')")
    badge = page.locator(".sync.pending")
    badge.wait_for()
    assert badge.text_content().strip() == "Sending to Salesforce…"
    page.screenshot(path=str(IMAGES / "portal-case.png"))

    # The page's script polls the status endpoint; Connect's answer arrives, the badge changes in place.
    with as_connect(conn):
        conn.execute("""UPDATE salesforce."case" SET _hc_lastop = 'INSERTED', sfid = '500A00000000009AAA'
                        WHERE sfid IS NULL""")
    page.wait_for_selector(".sync.saved:has-text('Saved')", timeout=15_000)
    assert not [e for e in page.errors if "Content Security Policy" in e]
