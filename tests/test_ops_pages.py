"""What every operator page shares (web/templates/ops/layout.html): one navigation bar with the current page
marked, the same API/row budget, SLDS markup without inline styles or scripts, durations in human units."""

import re

import pytest

from tests.invoicing_rows import add_accounts, add_orders
from tests.people import log_in

NAV = re.compile(r'<nav aria-label="Operator pages"[^>]*>(.*?)</nav>', re.DOTALL)
PAGES = {"/ops/sync": "Sync", "/ops/invoicing": "Invoicing", "/ops/exports": "Exports", "/ops/model": "Model"}


def csrf(client, path="/ops/invoicing"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def current(page: str) -> list[str]:
    """The labels the navigation bar marks as the current page."""
    nav = NAV.findall(page)
    assert len(nav) == 1, "exactly one operator navigation bar"
    return re.findall(r'aria-current="page">([^<]+)</a>', nav[0])


def budget(page: str) -> str:
    """The budget table's text, tags stripped (so two pages' budgets can be compared)."""
    table = re.search(r'<table [^>]*id="ops-budget">.*?</table>', page, re.DOTALL)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", table).split())


@pytest.fixture
def invoice_run(ops, conn, env):
    """An invoicing run started from the page (its status page is an operator page)."""
    accounts = add_accounts(conn, 2)
    add_orders(conn, [(a, "2026-10-10", 100, "Shipped") for a in accounts])
    response = ops.post("/ops/invoicing", data={"csrf_token": csrf(ops), "period": "2026-10"})
    assert response.status_code == 202
    return response.headers["Location"]


@pytest.fixture
def ops_job(ops, conn, redis):
    """An export operators started in the background: its status page is an operator page too."""
    response = ops.post("/ops/exports/orders", data={"csrf_token": csrf(ops, "/ops/exports")})
    assert response.status_code == 202
    return response.headers["Location"]


@pytest.mark.parametrize("path, label", PAGES.items())
def test_every_operator_page_has_the_navigation_with_itself_marked_current(ops, conn, path, label):
    page = ops.get(path).get_data(as_text=True)
    assert current(page) == [label]
    nav = NAV.search(page)[1]
    assert [href for href in re.findall(r'href="([^"]+)"', nav)] == list(PAGES)


def test_an_invoice_run_and_an_operators_job_are_operator_pages_too(ops, invoice_run, ops_job):
    assert current(ops.get(invoice_run).get_data(as_text=True)) == ["Invoicing"]
    job_page = ops.get(ops_job).get_data(as_text=True)
    assert current(job_page) == [] and "API and row budget" in job_page  # no nav entry of its own, still the budget


def test_a_customers_job_page_has_no_operator_navigation_or_budget(client, conn, redis):
    log_in(client, account_sfid="001000000000001AAA")
    page = client.get(client.post("/orders/exports", data={"csrf_token": csrf(client, "/orders")}).headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and not NAV.search(html) and "API and row budget" not in html


def test_every_operator_page_shows_the_same_budget(ops, conn, invoice_run, ops_job):
    # The run just added its invoices to the trigger log: the budget counts them as waiting, on every page alike.
    budgets = {path: budget(ops.get(path).get_data(as_text=True)) for path in [*PAGES, invoice_run, ops_job]}
    assert len(set(budgets.values())) == 1, budgets
    text = budgets["/ops/sync"]
    assert "Synced rows" in text and "of the demo plan's 10,000 across all mappings" in text
    assert "API requests today" in text and "Bulk API batches" in text and "Connect's drain" in text


@pytest.mark.parametrize("path", PAGES)
def test_operator_pages_use_no_inline_styles_or_scripts_and_wrap_their_tables(ops, conn, path):
    page = ops.get(path).get_data(as_text=True)
    assert " style=" not in page and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert "slds-page-header" in page and "slds-card" in page
    # Every table scrolls inside its own wrapper, never the page.
    assert page.count("<table") == page.count('<div class="table-scroll" tabindex="0">')  # focusable: it may scroll


def test_an_invoice_run_reads_its_times_in_human_units(ops, invoice_run, run_jobs):
    running = ops.get(invoice_run + ".json").get_json()
    assert running["eta_text"] == "not known yet" and running["elapsed_text"].endswith(" s")
    run_jobs()
    done = ops.get(invoice_run + ".json").get_json()
    assert done["eta_text"] == "—" and re.fullmatch(r"[\d.]+ (s|min)", done["elapsed_text"])
    page = ops.get(invoice_run).get_data(as_text=True)
    assert f'data-field="elapsed_text">{done["elapsed_text"]}<' in page and "(s)" not in page
