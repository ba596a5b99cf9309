"""What writing through Connect costs: rows against the plan's cap, bulk batches against the allowance, drain time."""

import dataclasses
import json

import pytest

from core import config, connect, db, durations, sync_cost
from standins.org import limits
from tests.invoicing_rows import synced_products


def with_org(cfg: config.Config, url: str) -> config.Config:
    """The configuration with the operations tools pointed at the org at `url`."""
    return dataclasses.replace(cfg, salesforce=config.Salesforce(local_url=url))


def test_soap_writes_cost_calls_of_200_and_never_ask_the_org(conn, app_config):
    cost = sync_cost.measure(conn, app_config, writes_added=25_000, ordered_writes=False)
    assert cost.soap_calls == 125 and cost.bulk_batches == 0 and cost.bulk is None
    assert cost.drain_seconds == 125 * sync_cost.SOAP_CALL_SECONDS and not cost.refusals()


def test_writes_already_waiting_in_the_trigger_log_count(conn, app_config):
    conn.execute("INSERT INTO salesforce._trigger_log (state, action, table_name) "
                 "SELECT 'NEW', 'INSERT', 'contact' FROM generate_series(1, 201)")
    cost = sync_cost.measure(conn, app_config)
    assert (cost.waiting, cost.writes, cost.soap_calls) == (201, 201, 2)


def test_under_ordered_writes_a_large_write_takes_bulk_batches(conn, app_config):
    cost = sync_cost.measure(conn, app_config, writes_added=25_000, ordered_writes=True)
    assert cost.uses_bulk and cost.bulk_batches == 3 and cost.soap_calls == 0
    assert cost.bulk.remaining is None and "set SF_USERNAME" in cost.bulk.source and not cost.refusals()


def test_below_the_threshold_writes_stay_on_soap_and_at_it_go_bulk(conn, app_config):
    below = sync_cost.measure(conn, app_config, writes_added=connect.BULK_WRITE_THRESHOLD - 1, ordered_writes=True)
    assert not below.uses_bulk and below.soap_calls == -(-(connect.BULK_WRITE_THRESHOLD - 1) // 200)
    at = sync_cost.measure(conn, app_config, writes_added=connect.BULK_WRITE_THRESHOLD, ordered_writes=True)
    assert at.uses_bulk and at.bulk_batches == 1


def test_the_bulk_allowance_is_read_from_the_orgs_limits(conn, app_config, local_org):
    cfg = with_org(app_config, local_org.url)
    cost = sync_cost.measure(conn, cfg, writes_added=25_000, ordered_writes=True)
    assert (cost.bulk.remaining, cost.bulk.maximum, cost.bulk.source) == (15_000, 15_000, "the org's limits/")


def test_fewer_bulk_batches_left_than_needed_is_a_refusal(conn, app_config, local_org):
    with db.connect(local_org.org.database_url) as c:
        limits.set_used(c, local_org.org.schema, "DailyBulkApiBatches", 14_999)
    cost = sync_cost.measure(conn, with_org(app_config, local_org.url), writes_added=25_000, ordered_writes=True)
    assert cost.over_bulk_allowance and "has 1 left in its daily allowance" in cost.refusals()[0]


def test_an_org_that_does_not_answer_leaves_the_allowance_unknown(conn, app_config):
    cost = sync_cost.measure(conn, with_org(app_config, "http://127.0.0.1:9"), writes_added=25_000,
                             ordered_writes=True)
    assert cost.bulk.remaining is None and cost.bulk.source.startswith("unknown: could not read limits/")


def test_rows_over_the_demo_plans_cap_are_a_refusal(conn, app_config):
    synced_products(conn, 9_999)
    assert not sync_cost.measure(conn, app_config, rows_added=1).over_row_cap
    cost = sync_cost.measure(conn, app_config, rows_added=2)
    assert cost.over_row_cap and "10,001 synced rows (9,999 now + up to 2)" in cost.refusals()[0]


def test_the_enterprise_plan_has_no_cap_the_app_knows(conn, app_config):
    synced_products(conn, 10_001)
    cost = sync_cost.measure(conn, dataclasses.replace(app_config, connect_plan="enterprise"))
    assert cost.row_cap is None and not cost.over_row_cap


@pytest.mark.parametrize("features, ordered", [
    ({"poll_db_no_merge": False}, False),
    ({"poll_db_no_merge": True}, True),
    ({"poll_db_no_merge": True, "disable_bulk_writes": True}, False),
])
def test_ordered_writes_come_from_the_mapping_files_connection_features(tmp_path, features, ordered):
    document = json.loads(connect.MAPPING_FILE.read_text())
    document["connection"]["features"] = features
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(document))
    assert connect.ordered_writes(path) is ordered


@pytest.mark.parametrize("seconds, text", [(40, "40 s"), (600, "10 min"), (9000, "2.5 h")])
def test_drain_time_reads_as_an_order_of_magnitude(seconds, text):
    assert durations.human(seconds) == text
