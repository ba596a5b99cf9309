"""Batch invoicing: the rules, exactly-once chunks, late orders, racing runs, and what a run costs the sync."""

import dataclasses
import threading
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from core import config, db, invoicing, queue
from tests.invoicing_rows import add_accounts, add_orders, synced_products
from worker import invoicing as jobs

PERIOD = "2026-10"
CENT = Decimal("0.01")  # Postgres rounds numeric halves away from zero


def few_chunks(cfg: config.Config) -> config.Config:
    """The configuration with runs split into 3 chunks, its other invoicing settings kept."""
    return dataclasses.replace(cfg, invoicing=dataclasses.replace(cfg.invoicing, chunks=3))


@pytest.fixture
def run_invoicing(conn, redis, run_jobs):
    """`run_invoicing(cfg)` starts a run with small chunks, lets a worker finish it and returns its progress."""

    def run(cfg, period=PERIOD, **kwargs):
        run_id, _ = invoicing.start_run(conn, redis, period, few_chunks(cfg), **kwargs)
        run_jobs()
        return invoicing.progress(conn, run_id, cfg)

    return run


def invoices(conn):
    """Every invoice, by external id."""
    rows = conn.execute("SELECT * FROM salesforce.invoice__c ORDER BY external_id__c").fetchall()
    return {r["external_id__c"]: r for r in rows}


def eligible_totals(conn, period=PERIOD):
    """What the rules say each account owes: Activated orders effective in the period, summed in cents."""
    rows = conn.execute(
        "SELECT accountid, sum(round(totalamount::numeric, 2)) AS amount, count(*) AS n FROM salesforce.\"order\" "
        "WHERE statuscode = 'Activated' AND to_char(effectivedate, 'YYYY-MM') = %s GROUP BY accountid",
        (period,),
    ).fetchall()
    return {r["accountid"]: (r["amount"], r["n"]) for r in rows}


@pytest.fixture
def billed_world(conn):
    """Twelve accounts with orders inside, before and after October 2026, in every status."""
    accounts = add_accounts(conn, 12)
    rows = []
    for i, account in enumerate(accounts):
        for k in range(i % 4 + 1):
            rows.append((account, date(2026, 10, 1 + (i * 3 + k) % 31), Decimal("19.99") * (k + 1) + i, "Delivered"))
        rows.append((account, "2026-10-31", 100.01, "Shipped"))
        rows.append((account, "2026-10-15", 5.55, "Activated"))
        rows.append((account, "2026-10-15", 999, "Draft"))  # not activated: not billed
        rows.append((account, "2026-10-20", 888, "Cancelled"))
        rows.append((account, "2026-09-30", 777, "Delivered"))  # other periods
        rows.append((account, "2026-11-01", 666, "Delivered"))
    add_orders(conn, rows)
    return accounts


def test_invoice_totals_match_eligible_orders_per_account_and_overall(conn, env, billed_world, run_invoicing):
    p = run_invoicing(env)
    expected = eligible_totals(conn)
    found = invoices(conn)
    assert p["state"] == "finished" and p["chunks_done"] == p["chunks_total"] == 3
    assert len(found) == len(expected) == 12
    for account, (amount, n) in expected.items():
        invoice = found[f"inv-{account}-{PERIOD}"]
        assert Decimal(str(invoice["amount__c"])) == amount
        assert invoice["order_count__c"] == n
        assert Decimal(str(invoice["tax__c"])) == (amount * Decimal("0.20")).quantize(CENT, ROUND_HALF_UP)
        assert invoice["account__c"] == account and invoice["period__c"] == PERIOD
        assert invoice["status__c"] == "Issued" and invoice["due_date__c"] == date(2026, 11, 30)
    overall = sum(a for a, _ in expected.values())
    assert Decimal(p["amount_total"]) == overall
    assert p["orders_invoiced"] == sum(n for _, n in expected.values())
    assert p["invoices_created"] == 12 and p["invoices_amended"] == 0


def test_invoice_names_carry_period_and_account_number(conn, env, billed_world, run_invoicing):
    run_invoicing(env)
    names = {r["name"] for r in invoices(conn).values()}
    assert "INV-2026-10-ACC-000001" in names


def test_ledger_holds_each_billed_order_once(conn, env, billed_world, run_invoicing):
    p = run_invoicing(env)
    lines = conn.execute("SELECT count(*) AS n, count(DISTINCT order_sfid) AS d FROM app.invoice_lines").fetchone()
    assert lines["n"] == lines["d"] == p["orders_invoiced"]


def test_invoices_wait_for_connect_and_nothing_read_only_is_written(conn, env, billed_world, run_invoicing):
    run_invoicing(env)
    lastops = {r["_hc_lastop"] for r in invoices(conn).values()}
    log = conn.execute("SELECT table_name, state, count(*) AS n FROM salesforce._trigger_log "
                       "GROUP BY table_name, state").fetchall()
    assert lastops == {"PENDING"}
    assert [(r["table_name"], r["state"], r["n"]) for r in log] == [("invoice__c", "NEW", 12)]


def test_rerun_changes_nothing(conn, env, billed_world, run_invoicing):
    run_invoicing(env)
    before = invoices(conn)
    log_rows = conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"]
    p = run_invoicing(env)
    assert p["state"] == "finished" and p["orders_invoiced"] == 0 and p["chunks_total"] == 0
    assert invoices(conn) == before
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == log_rows


def test_chunk_run_twice_bills_once(conn, redis, env, billed_world, run_jobs):
    run_id, _ = invoicing.start_run(conn, redis, PERIOD, few_chunks(env))
    first = jobs.run_chunk(run_id, 0)
    again = jobs.run_chunk(run_id, 0)
    assert first["orders"] > 0 and again == {"skipped": "already done"}
    run_jobs()  # the queued copy of chunk 0 also finds it done
    p = invoicing.progress(conn, run_id, env)
    assert p["chunks_done"] == 3 and p["orders_invoiced"] == sum(n for _, n in eligible_totals(conn).values())


def test_late_order_amends_the_open_invoice_once(conn, env, billed_world, run_invoicing):
    run_invoicing(env)
    account = billed_world[0]
    old = invoices(conn)[f"inv-{account}-{PERIOD}"]
    add_orders(conn, [(account, "2026-10-02", 50.25, "Activated")])
    p = run_invoicing(env)
    third = run_invoicing(env)
    new = invoices(conn)[f"inv-{account}-{PERIOD}"]
    assert p["orders_invoiced"] == 1 and p["invoices_amended"] == 1 and p["invoices_created"] == 0
    assert third["orders_invoiced"] == 0
    assert Decimal(str(new["amount__c"])) == Decimal(str(old["amount__c"])) + Decimal("50.25")
    assert new["order_count__c"] == old["order_count__c"] + 1
    amount = Decimal(str(new["amount__c"]))
    assert Decimal(str(new["tax__c"])) == (amount * Decimal("0.2")).quantize(CENT, ROUND_HALF_UP)
    assert len(invoices(conn)) == 12


def test_late_order_for_a_paid_invoice_gets_a_supplementary_invoice(conn, env, billed_world, run_invoicing,
                                                                    as_connect):
    run_invoicing(env)
    account = billed_world[1]
    with as_connect(conn):  # Salesforce marked it Paid; Connect syncs that back
        conn.execute("UPDATE salesforce.invoice__c SET status__c = 'Paid' WHERE external_id__c = %s",
                     (f"inv-{account}-{PERIOD}",))
    paid = invoices(conn)[f"inv-{account}-{PERIOD}"]
    add_orders(conn, [(account, "2026-10-03", 12.5, "Delivered")])
    p = run_invoicing(env)
    found = invoices(conn)
    supplement = found[f"inv-{account}-{PERIOD}-r{p['id']}"]
    assert found[f"inv-{account}-{PERIOD}"] == paid
    assert supplement["amount__c"] == 12.5 and supplement["order_count__c"] == 1
    assert supplement["name"].endswith(f"-S{p['id']}")
    assert p["invoices_created"] == 1 and p["invoices_amended"] == 0


def test_two_runs_racing_for_a_period_one_is_refused_totals_exact(conn, redis, env, billed_world, database_url,
                                                                  run_jobs):
    results, barrier = [], threading.Barrier(2)

    def racer():
        with db.connect(database_url) as own:
            barrier.wait()
            try:
                results.append(invoicing.start_run(own, redis, PERIOD, few_chunks(env))[0])
            except invoicing.RunAlreadyActive as exc:
                results.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, invoicing.RunAlreadyActive)]
    assert len(started) == 1 and len(refused) == 1
    assert f"#{started[0]}" in str(refused[0]) and "already running" in str(refused[0])
    run_jobs()
    expected = eligible_totals(conn)
    assert {r["account__c"]: Decimal(str(r["amount__c"])) for r in invoices(conn).values()} == {
        a: amount for a, (amount, _) in expected.items()}


def test_run_for_a_running_period_is_refused_until_it_finishes(conn, redis, env, billed_world, run_jobs):
    run_id, _ = invoicing.start_run(conn, redis, PERIOD, few_chunks(env))
    with pytest.raises(invoicing.RunAlreadyActive, match=f"Run #{run_id} for {PERIOD} is already running"):
        invoicing.start_run(conn, redis, PERIOD, few_chunks(env))
    run_jobs()
    second, _ = invoicing.start_run(conn, redis, PERIOD, few_chunks(env))
    assert second != run_id


def test_a_chunk_out_of_retries_fails_the_run_and_frees_the_period(conn, redis, env, billed_world):
    run_id, _ = invoicing.start_run(conn, redis, PERIOD, few_chunks(env))
    job = queue.queue(redis).fetch_job(invoicing.chunk_job_id(run_id, 1))
    job.retries_left = 0
    jobs.chunk_failed(job, redis, RuntimeError, RuntimeError("database went away"), None)
    p = invoicing.progress(conn, run_id, env)
    assert p["state"] == "failed" and "chunk 1 failed: RuntimeError: database went away" in p["error"]
    assert p["chunks_failed"] == 1
    invoicing.start_run(conn, redis, PERIOD, few_chunks(env))  # not refused


def test_over_the_row_cap_is_refused_unless_forced(conn, redis, env, billed_world, run_invoicing):
    synced_products(conn, 10_000)
    with pytest.raises(invoicing.OverSyncLimits, match="cap of 10,000 across all mappings.*--force"):
        invoicing.start_run(conn, redis, PERIOD, few_chunks(env))
    assert conn.execute("SELECT count(*) AS n FROM app.invoice_runs").fetchone()["n"] == 0
    p = run_invoicing(env, force=True)
    assert p["forced"] and p["state"] == "finished" and p["row_cap"] == 10_000
    assert p["synced_rows_before"] > 10_000 - p["rows_added_estimate"]


def test_a_run_records_what_it_costs_the_sync(conn, redis, env, billed_world, run_invoicing):
    est = invoicing.estimate(conn, PERIOD, env)
    p = run_invoicing(env)
    assert p["rows_added_estimate"] == est.invoices and p["soap_calls_estimate"] == est.cost.soap_calls >= 1
    assert p["bulk_batches_estimate"] == 0 and p["bulk_batches_remaining"] is None
    assert p["synced_rows_before"] == est.cost.synced_rows and p["drain_seconds_estimate"] > 0



@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-10", "October", "", "2026-10-01", "2026-00"])
def test_malformed_period_is_refused(bad):
    with pytest.raises(invoicing.BadPeriod, match="YYYY-MM"):
        invoicing.parse_period(bad, today=date(2026, 11, 28))


def test_future_period_is_refused():
    with pytest.raises(invoicing.BadPeriod, match="future"):
        invoicing.parse_period("2026-12", today=date(2026, 11, 28))


def test_previous_period_crosses_the_year():
    assert invoicing.parse_period("previous", today=date(2027, 1, 1)) == "2026-12"


def test_tax_rate_comes_from_the_configuration(conn, env, billed_world, run_invoicing):
    run_invoicing(dataclasses.replace(env, invoicing=config.Invoicing(tax_rate=Decimal("0.075"))))
    invoice = invoices(conn)[f"inv-{billed_world[0]}-{PERIOD}"]
    assert Decimal(str(invoice["tax__c"])) == (Decimal(str(invoice["amount__c"])) * Decimal("0.075")).quantize(
        CENT, ROUND_HALF_UP)
