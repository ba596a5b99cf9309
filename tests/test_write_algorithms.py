"""Heroku Connect's two write algorithms, its Bulk API writes and the duplicate-row race, against the local org."""

import dataclasses
import logging

import pytest

from core import connect, db, logs
from standins.connect import push
from standins.connect.engine import Engine
from standins.connect.push import Pusher, WriteSettings
from standins.org import limits

MERGED, ORDERED = WriteSettings(ordered=False), WriteSettings(ordered=True)


def use(engine, settings):
    """Run the engine under a write algorithm, as the mapping file's `connection.features` would choose it."""
    engine.pusher = Pusher(engine, settings)
    return engine


def archived(conn):
    return [(r["state"], r["action"]) for r in conn.execute(
        "SELECT state, action FROM salesforce._trigger_log_archive ORDER BY id")]


def mapping_counts(conn, object_name="Contact"):
    return conn.execute("SELECT api_calls, bulk_batches, rows_pushed FROM local_connect.mapping_state "
                        "WHERE object_name = %s", (object_name,)).fetchone()


def insert_contacts(conn, n, prefix="c"):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) "
                 "SELECT 'Row ' || n, %s || n FROM generate_series(1, %s) AS n", (prefix + "-", n))


def three_changes(conn):
    """An insert and two updates of one contact, as the portal would make them."""
    row_id = conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Doe', 'e-1') "
                          "RETURNING id").fetchone()["id"]
    conn.execute("UPDATE salesforce.contact SET phone = '1' WHERE id = %s", (row_id,))
    conn.execute("UPDATE salesforce.contact SET phone = '2', mailingcity = 'Oslo' WHERE id = %s", (row_id,))
    return row_id


def test_the_mapping_file_chooses_the_algorithm_and_the_app_uses_merged_writes():
    assert WriteSettings.from_features({"poll_db_no_merge": True}) == WriteSettings(ordered=True, bulk=True)
    assert WriteSettings.from_features({"poll_db_no_merge": True, "disable_bulk_writes": True}).bulk is False
    assert WriteSettings.from_features(connect.connection_features()).algorithm == "merged"


def test_merged_writes_condense_a_records_changes_into_one_write(conn, engine, local_org):
    row_id = three_changes(conn)
    assert use(engine, MERGED).push_once() == 3
    assert archived(conn) == [("MERGED", "INSERT"), ("MERGED", "UPDATE"), ("SUCCESS", "UPDATE")]
    row = conn.execute("SELECT sfid, _hc_lastop FROM salesforce.contact WHERE id = %s", (row_id,)).fetchone()
    record = local_org.salesforce().Contact.get(row["sfid"])
    assert (record["Phone"], record["MailingCity"], row["_hc_lastop"]) == ("2", "Oslo", "INSERTED")
    assert mapping_counts(conn)["api_calls"] == 2  # the describe and one collections call


def test_ordered_writes_send_every_change_in_trigger_log_order(conn, engine, local_org):
    row_id = three_changes(conn)
    assert use(engine, ORDERED).push_once() == 3
    assert archived(conn) == [("SUCCESS", "INSERT"), ("SUCCESS", "UPDATE"), ("SUCCESS", "UPDATE")]
    sfid = conn.execute("SELECT sfid FROM salesforce.contact WHERE id = %s", (row_id,)).fetchone()["sfid"]
    record = local_org.salesforce().Contact.get(sfid)
    assert (record["Phone"], record["MailingCity"]) == ("2", "Oslo")
    assert mapping_counts(conn)["api_calls"] == 4  # the describe and one call per change


def test_merged_writes_group_records_across_the_claim(conn, engine):
    """Interleaved changes to two mappings: merged, one call per mapping; ordered, one per consecutive run."""
    for i in range(3):
        conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('C', %s)", (f"c-{i}",))
        conn.execute("INSERT INTO salesforce.case (subject, external_id__c) VALUES ('S', %s)", (f"k-{i}",))
    use(engine, MERGED).push_once()
    assert mapping_counts(conn)["api_calls"] == 2 and mapping_counts(conn, "Case")["api_calls"] == 2
    assert [s for s, _ in archived(conn)] == ["SUCCESS"] * 6


def test_ordered_writes_keep_the_order_across_mappings(conn, engine):
    for i in range(3):
        conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('C', %s)", (f"c-{i}",))
        conn.execute("INSERT INTO salesforce.case (subject, external_id__c) VALUES ('S', %s)", (f"k-{i}",))
    use(engine, ORDERED).push_once()
    assert mapping_counts(conn)["api_calls"] == 4 and mapping_counts(conn, "Case")["api_calls"] >= 4


def test_ordered_writes_use_the_bulk_api_from_connects_threshold(conn, engine, local_org):
    insert_contacts(conn, push.BULK_WRITE_THRESHOLD)
    assert use(engine, ORDERED).push_once() == push.BULK_WRITE_THRESHOLD
    counts = mapping_counts(conn)
    assert counts["bulk_batches"] == 1 and counts["rows_pushed"] == push.BULK_WRITE_THRESHOLD
    assert counts["api_calls"] <= 8  # describe, login-free job: create, batch, status, result, close
    synced = conn.execute("SELECT count(*) AS n FROM salesforce.contact WHERE sfid IS NOT NULL "
                          "AND _hc_lastop = 'INSERTED'").fetchone()["n"]
    assert synced == push.BULK_WRITE_THRESHOLD
    assert local_org.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == push.BULK_WRITE_THRESHOLD
    with db.connect(local_org.org.database_url) as c:
        assert limits.used(c, local_org.org.schema, "DailyBulkApiBatches") == 1


def test_below_the_threshold_ordered_writes_use_collections_calls(conn, engine, monkeypatch):
    monkeypatch.setattr(push, "BULK_WRITE_THRESHOLD", 50)
    insert_contacts(conn, 49)
    use(engine, ORDERED).push_once()
    assert mapping_counts(conn)["bulk_batches"] == 0


def test_merged_writes_never_use_the_bulk_api(conn, engine, monkeypatch):
    monkeypatch.setattr(push, "BULK_WRITE_THRESHOLD", 50)
    insert_contacts(conn, 250)
    use(engine, MERGED).push_once()
    counts = mapping_counts(conn)
    assert (counts["bulk_batches"], counts["api_calls"], counts["rows_pushed"]) == (0, 3, 250)


def test_disable_bulk_writes_keeps_ordered_writes_on_collections(conn, engine, monkeypatch):
    monkeypatch.setattr(push, "BULK_WRITE_THRESHOLD", 50)
    insert_contacts(conn, 250)
    use(engine, WriteSettings.from_features({"poll_db_no_merge": True, "disable_bulk_writes": True})).push_once()
    assert mapping_counts(conn)["bulk_batches"] == 0 and mapping_counts(conn)["rows_pushed"] == 250


def test_bulk_updates_and_deletes_reach_the_org(conn, engine, local_org, monkeypatch):
    monkeypatch.setattr(push, "BULK_WRITE_THRESHOLD", 50)
    insert_contacts(conn, 60)
    use(engine, ORDERED).push_once()
    conn.execute("UPDATE salesforce.contact SET phone = 'bulk ' || id")
    engine.push_once()
    sf = local_org.salesforce()
    phones = {r["Phone"] for r in sf.query_all("SELECT Phone FROM Contact")["records"]}
    assert len(phones) == 60 and all(p.startswith("bulk ") for p in phones)
    conn.execute("DELETE FROM salesforce.contact")
    engine.push_once()
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    assert mapping_counts(conn)["bulk_batches"] == 3
    assert {s for s, _ in archived(conn)} == {"SUCCESS"}


def test_a_failed_bulk_insert_falls_back_to_a_per_record_write(conn, engine, monkeypatch, caplog):
    monkeypatch.setattr(push, "BULK_WRITE_THRESHOLD", 50)
    conn.execute("INSERT INTO salesforce.case (subject, origin, external_id__c) "
                 "SELECT 'Help ' || n, 'Web', 'k-' || n FROM generate_series(1, 59) AS n")
    conn.execute("INSERT INTO salesforce.case (origin, external_id__c) VALUES ('Web', 'no-subject')")
    with caplog.at_level(logging.INFO, logger="standins.connect.push"):
        use(engine, ORDERED).push_once()
    assert "BULK write batch to Case ended due to 1 failed insert(s). Will fall back to SOAP" in caplog.text
    failed = conn.execute("SELECT _hc_lastop, _hc_err FROM salesforce.case WHERE external_id__c = 'no-subject'")
    assert "A case from the web needs a subject." in failed.fetchone()["_hc_err"]
    assert conn.execute("SELECT count(*) AS n FROM salesforce.case WHERE _hc_lastop = 'INSERTED'").fetchone()["n"] == 59
    states = [r["state"] for r in conn.execute("SELECT state FROM salesforce._trigger_log_archive ORDER BY id")]
    assert states.count("FAILED") == 1 and states.count("SUCCESS") == 59
    [line] = [r for r in caplog.records if getattr(r, "facts", None)]
    assert (line.facts["api"], line.facts["soap_fallback"], line.facts["failed"]) == ("bulk+soap", 1, 1)
    assert line.getMessage().startswith("Case → Salesforce: 59 inserted, 1 FAILED — FIELD_CUSTOM_VALIDATION_EXCEPTION "
                                        "“A case from the web needs a subject.” (60 rows, ")


def test_a_refused_bulk_job_goes_out_by_soap(conn, engine, local_org, monkeypatch):
    monkeypatch.setattr(push, "BULK_WRITE_THRESHOLD", 50)
    with db.connect(local_org.org.database_url) as c:  # the org's daily Bulk API batch allowance is spent
        limits.set_used(c, local_org.org.schema, "DailyBulkApiBatches", 15000)
    insert_contacts(conn, 60)
    use(engine, ORDERED).push_once()
    assert conn.execute("SELECT count(*) AS n FROM salesforce.contact WHERE _hc_lastop = 'INSERTED'").fetchone()["n"] \
        == 60
    assert local_org.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == 60


def test_each_push_logs_one_logfmt_line_per_mapping(conn, engine, caplog):
    three_changes(conn)
    conn.execute("INSERT INTO salesforce.case (origin, external_id__c) VALUES ('Web', 'no-subject')")
    with caplog.at_level(logging.INFO, logger="standins.connect.push"):
        use(engine, MERGED).push_once()
    lines = {r.facts["mapping"]: logs.formatter().format(r).split('" ', 1)[1]
             for r in caplog.records if r.name == "standins.connect.push"}
    assert len(lines) == 2
    assert lines["Contact"].startswith("mapping=Contact algorithm=merged api=soap rows=3 merged=2 api_calls=1 "
                                       "bulk_batches=0 soap_fallback=0 failed=0 duration_ms=")
    assert lines["Case"].startswith("mapping=Case algorithm=merged api=soap rows=1 merged=0 ") \
        and "failed=1" in lines["Case"]


# ---- the duplicate-row race -------------------------------------------------------------------------

def engine_for(database_url, local_org, mapping):
    """An engine whose only mapping is `mapping` (e.g. a read-write Contact mapping without an upsert field)."""
    return Engine(database_url, "salesforce", salesforce_factory=local_org.salesforce,
                  mappings={mapping.object_name: mapping})


def push_with_a_poll_before_the_write_back(sync):
    """Push, with Connect's read thread polling after Salesforce took the insert and before the sfid is stored."""
    finish = sync.pusher._finish
    polled = []

    def poll_then_finish(outcomes, pending, tally=None):
        if outcomes and not polled:
            polled.append(sync.pull_once("Contact"))
        finish(outcomes, pending, tally)

    sync.pusher._finish = poll_then_finish
    sync.push_once()
    return polled


@pytest.fixture
def race_rows(conn):
    def rows():
        return conn.execute("SELECT sfid, lastname, _hc_lastop FROM salesforce.contact ORDER BY id").fetchall()
    return rows


def test_without_an_upsert_field_a_write_that_comes_back_early_makes_two_rows(conn, database_url, local_org,
                                                                           race_rows):
    no_external_id = dataclasses.replace(connect.mappings()["Contact"], upsert_field=None)
    sync = engine_for(database_url, local_org, no_external_id)
    conn.execute("TRUNCATE local_connect.mapping_state")
    conn.execute("INSERT INTO salesforce.contact (lastname) VALUES ('Lovelace')")
    assert push_with_a_poll_before_the_write_back(sync) == [1]
    (record,) = local_org.salesforce().query("SELECT Id FROM Contact")["records"]
    # One Salesforce record, two rows: the poll could match it neither by sfid (not stored yet) nor by
    # an external id (there is none), so it inserted a row; the app's own row never gets the sfid.
    assert [(r["sfid"], r["lastname"]) for r in race_rows()] == [(None, "Lovelace"), (record["Id"], "Lovelace")]
    sync.conn.close()


def test_with_the_apps_upsert_field_the_same_race_leaves_one_row(conn, database_url, local_org, race_rows):
    sync = engine_for(database_url, local_org, connect.mappings()["Contact"])
    conn.execute("TRUNCATE local_connect.mapping_state")
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Lovelace', 'uuid-1')")
    push_with_a_poll_before_the_write_back(sync)
    (record,) = local_org.salesforce().query("SELECT Id FROM Contact")["records"]
    assert [(r["sfid"], r["_hc_lastop"]) for r in race_rows()] == [(record["Id"], "INSERTED")]
    sync.conn.close()
