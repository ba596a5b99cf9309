"""In a real headless Chromium (Debian's package, driven by Playwright): log in, open an order, file a case,
see its sync badge (tests/browser.py: the shared fixtures). The docs' screenshots are `make screenshots`'
(tools/screenshots.py): tests do not rewrite the docs.
"""

from tests import portal_rows
from tests.browser import BROWSER

pytestmark = BROWSER


def test_log_in_open_an_order_file_a_case_and_see_it_sending(server, page, conn, portal_world, as_connect):
    portal_rows.make_user(conn)

    page.goto(f"{server}/orders")
    page.fill("input[name=email]", portal_rows.EMAIL_A)
    page.fill("input[name=password]", portal_rows.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Your orders')")
    assert page.locator("table.orders tbody tr").count() == 25

    page.click("text=00000010")
    page.wait_for_selector("h1:has-text('Order 00000010')")
    assert page.locator("text=Widget").count() >= 1

    page.fill("input[name=subject]", "One box arrived damaged")
    page.fill("textarea[name=description]", "The corner of the second box was crushed.")
    page.select_option("select[name=type]", "Problem")
    page.click("button:has-text('File a case')")
    badge = page.locator(".sync.pending")
    badge.wait_for()
    assert badge.text_content().strip() == "Sending to Salesforce…"

    # The page's script polls the status endpoint; Connect's answer arrives, the badge changes in place.
    with as_connect(conn):
        conn.execute("""UPDATE salesforce."case" SET _hc_lastop = 'INSERTED', sfid = '500A00000000009AAA'
                        WHERE sfid IS NULL""")
    page.wait_for_selector(".sync.saved:has-text('Saved')", timeout=15_000)
    assert not [e for e in page.errors if "Content Security Policy" in e]
