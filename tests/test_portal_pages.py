"""The portal's pages: orders (keyset-paged, filtered, searched), an order, invoices, cases, profile."""

import dataclasses
import re

import pytest

from tests import portal_rows
from tests.portal_rows import ACCOUNT_A, ACCOUNT_B, order_sfid
from web import create_app


def _order_numbers(html: str) -> list[str]:
    return re.findall(r'<a href="/orders/801\w+">(\d+)</a>', html)


def test_orders_are_newest_first_a_page_at_a_time(client, ann):
    page = client.get("/orders").get_data(as_text=True)
    numbers = _order_numbers(page)
    assert numbers[:3] == ["00000030", "00000029", "00000028"] and len(numbers) == 25
    older = re.search(r'rel="next" href="([^"]+)"', page)[1].replace("&amp;", "&")
    rest = _order_numbers(client.get(older).get_data(as_text=True))
    assert rest == [f"{n:08d}" for n in range(5, 0, -1)]


def test_order_list_shows_only_the_accounts_orders(client, ann):
    numbers = _order_numbers(client.get("/orders").get_data(as_text=True))
    assert not any(n.startswith("0000100") for n in numbers)


def test_orders_filter_by_status(client, ann):
    page = client.get("/orders?status=Shipped").get_data(as_text=True)
    numbers = _order_numbers(page)
    assert numbers and all(int(n) % 3 == 1 for n in numbers)


def test_orders_search_by_number_without_leading_zeros(client, ann):
    assert _order_numbers(client.get("/orders?number=17").get_data(as_text=True)) == ["00000017"]


def test_unknown_status_is_a_clear_400(client, ann):
    response = client.get("/orders?status=Lost")
    assert response.status_code == 400 and "Unknown status" in response.get_data(as_text=True)


def test_forged_page_cursor_is_a_clear_400(client, ann):
    response = client.get("/orders?after=2026-99-01~x")
    assert response.status_code == 400 and "page link is not valid" in response.get_data(as_text=True)


def test_order_detail_shows_items_with_products_and_amounts(client, ann):
    page = client.get(f"/orders/{order_sfid(ACCOUNT_A, 3)}").get_data(as_text=True)
    assert "Order 00000003" in page and "Widget" in page and "Support plan" in page
    assert "USD 300.00" in page  # total, with its currency


def test_order_detail_shows_the_invoice_of_its_month(client, ann):
    assert "INV-A-2026-01" in client.get(f"/orders/{order_sfid(ACCOUNT_A, 3)}").get_data(as_text=True)
    assert "Not invoiced yet" in client.get(f"/orders/{order_sfid(ACCOUNT_A, 30)}").get_data(as_text=True)


def test_order_in_the_invoicing_ledger_shows_the_invoice_the_ledger_names(client, ann, conn):
    conn.execute(
        "INSERT INTO app.invoice_lines (order_sfid, invoice_external_id, account_sfid, period, amount, run_id, chunk) "
        "VALUES (%s, 'inv-a-1', %s, '2026-01', 3000, 1, 0)", (order_sfid(ACCOUNT_A, 30), ACCOUNT_A))
    assert "INV-A-2026-01" in client.get(f"/orders/{order_sfid(ACCOUNT_A, 30)}").get_data(as_text=True)


def test_invoices_page_lists_the_accounts_invoices(client, ann):
    page = client.get("/invoices").get_data(as_text=True)
    assert "INV-A-2026-01" in page and "INV-B" not in page


def test_invoice_page(client, ann):
    assert "USD 4,650.00" in client.get("/invoices/a0IA00000000001AAA").get_data(as_text=True)


@pytest.mark.parametrize(("lastop", "err", "label"), portal_rows.SYNC_BADGES)
def test_invoice_badge_shows_how_far_the_invoice_got_to_salesforce(client, ann, conn, as_connect, lastop, err,
                                                                     label):
    # Batch invoicing writes as the app (a PENDING row); Connect's own write sets the state it reached.
    if lastop == "PENDING":
        conn.execute("UPDATE salesforce.invoice__c SET amount__c = amount__c + 1 WHERE external_id__c = 'inv-a-1'")
    else:
        with as_connect(conn):
            conn.execute("UPDATE salesforce.invoice__c SET _hc_lastop = %s, _hc_err = %s "
                         "WHERE external_id__c = 'inv-a-1'", (lastop, err))
    assert label in client.get("/invoices").get_data(as_text=True)
    assert label in client.get("/invoices/inv-a-1").get_data(as_text=True)
    status = client.get("/invoices/a0IA00000000001AAA/status.json").get_json()
    assert status["label"] == label and status["final"] is (lastop != "PENDING")


def test_cases_page_lists_the_accounts_cases_only(client, ann):
    page = client.get("/cases").get_data(as_text=True)
    assert "Globex question" not in page and "No support cases yet" in page


def test_profile_shows_the_contacts_own_details(client, ann):
    page = client.get("/profile").get_data(as_text=True)
    assert "Ann Lee" in page and "+1 555 0100" in page and "Acme Corp" in page


def test_pages_use_the_external_script_only(client, ann):
    page = client.get("/orders").get_data(as_text=True)
    assert '<script src="/static/journey.js?v=' in page  # the file's content hash: cached for a year
    assert "<script>" not in page


def test_security_headers_forbid_inline_scripts(client, ann):
    headers = client.get("/orders").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers  # only in production


def test_production_sends_hsts_and_secure_cookies(app_config, conn, redis, portal_world):
    production = dataclasses.replace(app_config, environment="production", app_url="https://portal.example.com")
    client = create_app({"APP": production, "TESTING": True}).test_client()
    response = client.get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in response.headers["Set-Cookie"]


def test_account_b_sees_its_own_orders(client, conn, portal_world):
    portal_rows.session_for(client, portal_rows.make_user(conn, portal_rows.EMAIL_B))
    assert _order_numbers(client.get("/orders").get_data(as_text=True)) == ["00001003", "00001002", "00001001"]
    assert ACCOUNT_B


def test_landing_page_links_to_the_portal_login(client):
    assert 'href="/login"' in client.get("/").get_data(as_text=True)


def test_orders_page_offers_both_exports_and_the_stream_holds_only_the_accounts_orders(client, ann):
    page = client.get("/orders").get_data(as_text=True)
    assert 'href="/orders/export.csv"' in page and 'action="/orders/exports"' in page
    csv = client.get("/orders/export.csv").get_data(as_text=True)
    assert "ACC-00000001" in csv and "ACC-00000002" not in csv  # account A's orders only
