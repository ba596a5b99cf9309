"""`python manage.py org seed`: a small demo data set written into the org through the Bulk API 2.0, idempotently."""

import os
import subprocess
import sys
from datetime import date

import pytest

from core import connect, connect_validate, org_seed
from core.paths import ROOT

TODAY = date(2026, 11, 20)


def quiet(*_):
    pass


@pytest.fixture(autouse=True)
def _first_poll_at_once(monkeypatch):
    """No half-second sleep before each Bulk API job's first poll: the local org has finished the job by then
    (it processes an ingest job when its upload completes), so the sleep only waits. Nine jobs a seed."""
    monkeypatch.setattr(org_seed, "BULK_POLL_SECONDS", 0)


def test_the_plan_is_deterministic_and_small():
    first, again = org_seed.plan(TODAY), org_seed.plan(TODAY)
    assert first == again
    sizes = first.sizes()
    assert sizes == {"Account": 12, "Contact": 24, "Product2": 8, "PricebookEntry": 8, "Order": 36, "OrderItem": 72,
                     "Case": 12, "Invoice__c": 12}
    assert sum(n for obj, n in sizes.items() if obj in connect.mappings()) < connect.DEMO_PLAN_ROWS // 10


def test_seeding_creates_orders_the_way_a_real_org_needs_them(sf):
    result, rows = org_seed.seed(sf, today=TODAY, echo=quiet)
    assert {k: v for k, v in result.created.items() if k in result.existing} == org_seed.plan(TODAY).sizes()
    assert rows == 176  # the mapped objects: everything but the price book entries
    book = sf.query("SELECT Id, IsActive FROM Pricebook2 WHERE IsStandard = true")["records"][0]
    entries = sf.query_all("SELECT Id, Product2Id, UnitPrice FROM PricebookEntry WHERE Pricebook2Id = "  # noqa: S608
                           f"'{book['Id']}'")
    assert book["IsActive"] and entries["totalSize"] == 8
    orders = sf.query_all("SELECT Id, Status, Pricebook2Id, BillToContactId FROM Order")["records"]
    assert {o["Pricebook2Id"] for o in orders} == {book["Id"]} and all(o["BillToContactId"] for o in orders)
    activated = [o for o in orders if o["Status"] == "Activated"]
    assert 0 < len(activated) < len(orders) and {o["Status"] for o in orders} == {"Draft", "Activated"}
    by_product = {e["Product2Id"]: e for e in entries["records"]}
    items = sf.query_all("SELECT OrderId, Product2Id, PricebookEntryId, UnitPrice FROM OrderItem")["records"]
    assert len(items) == 72
    assert all(by_product[i["Product2Id"]]["Id"] == i["PricebookEntryId"] for i in items)
    assert all(by_product[i["Product2Id"]]["UnitPrice"] == i["UnitPrice"] for i in items)
    # Every activated order has its items: Salesforce activates none without.
    assert {o["Id"] for o in activated} <= {i["OrderId"] for i in items}
    invoice = sf.query("SELECT Account__r.AccountNumber, Period__c FROM Invoice__c WHERE External_ID__c = "
                       "'seed-invoice-001'")["records"][0]
    assert (invoice["Account__r"]["AccountNumber"], invoice["Period__c"]) == ("SEED-A001", "2026-09")


def test_a_rerun_creates_nothing(sf):
    org_seed.seed(sf, today=TODAY, echo=quiet)
    before = connect_validate.row_counts(sf, org_seed.plan(TODAY).sizes())
    result, _ = org_seed.seed(sf, today=TODAY, echo=quiet)
    assert set(result.created.values()) == {0}
    assert connect_validate.row_counts(sf, before) == before


def test_a_rerun_finishes_what_an_interrupted_seed_left(sf):
    org_seed.seed(sf, today=TODAY, echo=quiet)
    some = sf.query("SELECT Id FROM Case WHERE External_ID__c = 'seed-case-005'")["records"][0]["Id"]
    sf.Case.delete(some)
    result, _ = org_seed.seed(sf, today=TODAY, echo=quiet)
    assert result.created["Case"] == 1 and result.existing["Case"] == 11
    assert sum(result.created.values()) == 1


def test_an_inactive_standard_price_book_is_activated(sf):
    book = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    sf.Pricebook2.update(book, {"IsActive": False})
    lines = []
    org_seed.seed(sf, today=TODAY, echo=lines.append)
    assert f"  activate  the standard price book {book}" in lines
    assert sf.Pricebook2.get(book)["IsActive"] is True


def test_a_dry_run_shows_what_it_would_create_and_writes_nothing(sf):
    lines = []
    result, rows = org_seed.seed(sf, today=TODAY, dry_run=True, echo=lines.append)
    assert result.created["OrderItem"] == 72 and rows == 176
    assert "  OrderItem           0 exist    72 to create" in lines
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_a_seed_that_would_pass_the_plans_cap_is_refused_before_writing(sf):
    with pytest.raises(org_seed.SeedRefused, match="would hold 176 records, over the plan's cap of 100 synced rows"):
        org_seed.seed(sf, today=TODAY, cap=100, echo=quiet)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_the_command_seeds_then_creates_nothing_on_a_rerun(local_org, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url}
    for var in ("SF_USERNAME", "SF_INSTANCE_URL", "SF_SESSION_ID"):
        env.pop(var, None)
    outputs = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "manage.py", "org", "seed"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
    assert "created 176 record(s)" not in outputs[0]  # the price book entries count too
    assert "created 184 record(s); the mapped objects hold 176 of the demo plan's 10,000 synced rows." in outputs[0]
    assert "created 0 record(s); the mapped objects hold 176 of the demo plan's 10,000 synced rows." in outputs[1]
    assert "python manage.py org seed --invite" in outputs[1]


def test_invite_sends_invitations_to_the_seeded_contacts_connect_has_synced(local_org, database_url, engine, conn):
    sf = local_org.salesforce()
    org_seed.seed(sf, echo=quiet)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://unused", "LOCAL_ORG_URL": local_org.url,
           "APP_URL": "https://portal.example.com"}
    for var in ("SF_USERNAME", "SF_INSTANCE_URL", "SF_SESSION_ID"):
        env.pop(var, None)
    argv = [sys.executable, "manage.py", "org", "seed", "--invite"]
    waiting = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert waiting.returncode == 0, waiting.stdout + waiting.stderr
    assert "12 contact(s) not in Postgres yet (seed-contact-001, seed-contact-003, seed-contact-005…)" in waiting.stdout
    engine.pull_once("Account")
    engine.pull_once("Contact")
    invited = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert invited.returncode == 0, invited.stdout + invited.stderr
    lines = [line for line in invited.stdout.splitlines() if line.startswith("  invited ")]
    assert len(lines) == 12
    assert lines[0].startswith("  invited ada.") and "https://portal.example.com/invitation/" in lines[0]
    users = conn.execute("SELECT count(*) AS n FROM app.portal_users WHERE contact_external_id LIKE 'seed-contact-%'")
    assert users.fetchone()["n"] == 12
