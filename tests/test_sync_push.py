"""The local Connect's writer: Postgres changes reach the org through the trigger log."""

import json
import uuid

import pytest


def _contact(conn, last_name="Doe", **extra):
    ext = extra.pop("external_id__c", str(uuid.uuid4()))
    row = conn.execute(
        "INSERT INTO salesforce.contact (lastname, firstname, external_id__c, email) "
        "VALUES (%s, 'Jane', %s, %s) RETURNING id",
        (last_name, ext, f"{ext}@example.com"),
    ).fetchone()
    return row["id"], ext


def _row(conn, table, record_id):
    return conn.execute(f"SELECT * FROM salesforce.{table} WHERE id = %s", (record_id,)).fetchone()  # noqa: S608


def test_a_contact_inserted_in_postgres_is_created_in_the_org_and_marked_inserted(conn, engine, local_org):
    record_id, ext = _contact(conn, "Pushed")
    engine.push_all(conn)
    row = _row(conn, "contact", record_id)
    assert row["_hc_lastop"] == "INSERTED" and row["sfid"].startswith("003")
    found = local_org.salesforce().Contact.get_by_custom_id("External_ID__c", ext)
    assert found["Id"] == row["sfid"] and found["LastName"] == "Pushed"


def test_processed_trigger_log_rows_are_archived_as_success(conn, engine):
    _contact(conn)
    engine.push_all(conn)
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0
    archived = conn.execute("SELECT state, action, processed_at FROM salesforce._trigger_log_archive").fetchall()
    assert [(r["state"], r["action"]) for r in archived] == [("SUCCESS", "INSERT")]
    assert archived[0]["processed_at"] is not None


def test_an_update_sends_only_the_changed_values(conn, engine, local_org):
    record_id, ext = _contact(conn, "Before")
    engine.push_all(conn)
    sf = local_org.salesforce()
    sfid = _row(conn, "contact", record_id)["sfid"]
    sf.Contact.update(sfid, {"Phone": "555-0100"})  # changed in the org only
    conn.execute("UPDATE salesforce.contact SET lastname = 'After' WHERE id = %s", (record_id,))
    engine.push_all(conn)
    record = sf.Contact.get(sfid)
    assert record["LastName"] == "After" and record["Phone"] == "555-0100"
    assert _row(conn, "contact", record_id)["_hc_lastop"] in ("UPDATED", "SYNCED")


def test_several_changes_to_one_record_are_applied_in_order(conn, engine, local_org):
    record_id, ext = _contact(conn, "First")
    for name in ("Second", "Third", "Fourth"):
        conn.execute("UPDATE salesforce.contact SET lastname = %s WHERE id = %s", (name, record_id))
    engine.push_all(conn)
    assert local_org.salesforce().Contact.get_by_custom_id("External_ID__c", ext)["LastName"] == "Fourth"
    states = conn.execute("SELECT action, state FROM salesforce._trigger_log_archive ORDER BY id").fetchall()
    assert [(r["action"], r["state"]) for r in states] == [("INSERT", "SUCCESS")] + [("UPDATE", "SUCCESS")] * 3


def test_a_row_deleted_in_postgres_is_deleted_in_the_org(conn, engine, local_org):
    record_id, ext = _contact(conn)
    engine.push_all(conn)
    sfid = _row(conn, "contact", record_id)["sfid"]
    conn.execute("DELETE FROM salesforce.contact WHERE id = %s", (record_id,))
    engine.push_all(conn)
    deleted = local_org.salesforce().query_all(f"SELECT Id FROM Contact WHERE Id = '{sfid}'", include_deleted=True)  # noqa: S608
    live = local_org.salesforce().query(f"SELECT Id FROM Contact WHERE Id = '{sfid}'")  # noqa: S608
    assert deleted["totalSize"] == 1 and live["totalSize"] == 0


def test_a_validation_failure_ends_failed_with_the_message_in_hc_err_and_sf_message(conn, engine):
    record_id = conn.execute(
        "INSERT INTO salesforce.contact (firstname, external_id__c) VALUES ('No last name', %s) RETURNING id",
        (str(uuid.uuid4()),)).fetchone()["id"]
    engine.push_all(conn)
    row = _row(conn, "contact", record_id)
    assert row["_hc_lastop"] == "FAILED" and row["sfid"] is None
    assert "LastName" in json.loads(row["_hc_err"])["msg"]
    archived = conn.execute("SELECT state, sf_message FROM salesforce._trigger_log_archive").fetchone()
    assert archived["state"] == "FAILED" and "REQUIRED_FIELD_MISSING" in archived["sf_message"]


def test_a_case_naming_its_contact_by_external_id_is_linked_to_that_contact(conn, engine, local_org):
    contact_id, contact_ext = _contact(conn, "Parent")
    case_ext = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO salesforce.case (subject, status, contact__external_id__c, external_id__c) "
        "VALUES ('Broken', 'New', %s, %s)", (contact_ext, case_ext))
    engine.push_all(conn)
    contact_sfid = _row(conn, "contact", contact_id)["sfid"]
    case = local_org.salesforce().Case.get_by_custom_id("External_ID__c", case_ext)
    assert case["ContactId"] == contact_sfid
    # the next read fills the lookup column with the real Id, as Connect's does
    engine.pull_due(conn, pull_all=True)
    row = conn.execute("SELECT contactid, _hc_lastop FROM salesforce.case WHERE external_id__c = %s",
                       (case_ext,)).fetchone()
    assert row["contactid"] == contact_sfid


def test_the_api_limit_keeps_changes_queued_until_the_limit_resets(conn, engine, local_org):
    from standins.connect.push import OrgUnavailable

    local_org.set_api_limit(10)
    local_org.set_api_usage(10)
    record_ids = [_contact(conn, f"Queued {n}")[0] for n in range(3)]
    with pytest.raises(OrgUnavailable, match="REQUEST_LIMIT_EXCEEDED"):
        engine.push_all(conn)
    queued = conn.execute("SELECT state FROM salesforce._trigger_log").fetchall()
    assert [r["state"] for r in queued] == ["NEW"] * 3
    local_org.set_api_limit(15000)
    local_org.set_api_usage(0)
    engine.push_all(conn)
    assert {_row(conn, "contact", i)["_hc_lastop"] for i in record_ids} == {"INSERTED"}


def test_an_unreachable_org_keeps_changes_queued_until_it_is_back(conn, engine, local_org):
    from standins.connect.push import OrgUnavailable
    from tests.processes import free_port

    good = engine.sf
    record_id, _ = _contact(conn, "Waiting")
    good.session.mount("https://", type(good.session.get_adapter("https://"))(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(OrgUnavailable, match="unreachable"):
        engine.push_all(conn)
    assert conn.execute("SELECT state FROM salesforce._trigger_log").fetchone()["state"] == "NEW"
    assert _row(conn, "contact", record_id)["_hc_lastop"] == "PENDING"
    good.session.mount("https://", type(good.session.get_adapter("https://"))(local_org.url))
    engine.push_all(conn)
    assert _row(conn, "contact", record_id)["_hc_lastop"] == "INSERTED"


def test_a_requeued_failure_is_sent_again(conn, engine, local_org):
    record_id = conn.execute(
        "INSERT INTO salesforce.contact (firstname, external_id__c) VALUES ('Later', %s) RETURNING id",
        (str(uuid.uuid4()),)).fetchone()["id"]
    engine.push_all(conn)
    # someone fixes the data, then the console's retry marks the archived change REQUEUE
    with conn.transaction():
        conn.execute("SET LOCAL xmlbinary = 'hex'")
        conn.execute("UPDATE salesforce.contact SET lastname = 'Fixed' WHERE id = %s", (record_id,))
    conn.execute("""UPDATE salesforce._trigger_log_archive
                    SET state = 'REQUEUE', "values" = ("values"::hstore || hstore('lastname', 'Fixed'))::text""")
    engine.push_all(conn)
    assert _row(conn, "contact", record_id)["_hc_lastop"] == "INSERTED"
    states = conn.execute("SELECT state FROM salesforce._trigger_log_archive ORDER BY id").fetchall()
    assert [r["state"] for r in states] == ["REQUEUED", "SUCCESS"]


def test_an_engine_killed_mid_batch_and_restarted_loses_and_doubles_nothing(conn, local_org, app_config, tmp_path):
    import signal

    from tests import processes
    from tests.sync_engine import reset_state

    reset_state(conn)
    conn.execute(
        "INSERT INTO salesforce.contact (lastname, external_id__c) "
        "SELECT 'Killed ' || n, 'kill-' || n FROM generate_series(1, 3000) AS n")
    env = processes.environment(app_config, LOCAL_ORG_URL=local_org.url, CONNECT_POLL_SECONDS=3600,
                                CONNECT_DB_POLL_SECONDS=0.1)
    log = tmp_path / "connect.log"
    first = processes.start([processes.sys.executable, "-m", "standins.connect"], env, log)
    try:
        processes.wait_for(lambda: conn.execute(
            "SELECT count(*) AS n FROM salesforce.contact WHERE sfid IS NOT NULL").fetchone()["n"] > 0,
            60, "the first batches to be sent", interval=0.005)
        processes.signal_dyno(first, signal.SIGKILL)
        first.wait(10)
    finally:
        processes.stop(first)
    left = conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"]
    assert left > 0, "the engine finished before it could be killed"
    second = processes.start([processes.sys.executable, "-m", "standins.connect"], env, log)
    try:
        processes.wait_for(lambda: conn.execute(
            "SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0, 60, "the backlog to drain")
    finally:
        processes.stop(second)
    rows = conn.execute("SELECT count(*) AS n, count(sfid) AS sent, count(DISTINCT sfid) AS d "
                        "FROM salesforce.contact").fetchone()
    assert rows == {"n": 3000, "sent": 3000, "d": 3000}
    in_org = local_org.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"]
    assert in_org == 3000
