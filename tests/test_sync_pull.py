"""The local Connect's reader: org changes reach Postgres by SystemModstamp polling."""

import uuid

from psycopg.types.json import Jsonb


def _org_contacts(local_org, count, stamp="2026-01-01 00:00:00", start=1):
    """`count` Contacts in the org sharing one SystemModstamp (as one bulk load would leave them)."""
    rows = [("003" + str(n).rjust(15, "0"), Jsonb({"LastName": f"Bulk {n}", "External_ID__c": f"bulk-{n}"}))
            for n in range(start, start + count)]
    with local_org.org.connection() as c, c.cursor() as cur:
        cur.executemany("INSERT INTO local_org.records (id, object, fields, created_date, system_modstamp) "
                        "VALUES (%s, 'Contact', %s, %s, %s)", [(i, f, stamp, stamp) for i, f in rows])


def _contact_target(engine):
    return engine.targets["Contact"]


def test_the_initial_load_brings_existing_org_records_as_synced_rows(conn, engine, local_org):
    sfid = local_org.salesforce().Contact.create({"LastName": "Existing", "External_ID__c": "e-1"})["id"]
    engine.pull_due(conn, pull_all=True)
    row = conn.execute("SELECT lastname, _hc_lastop FROM salesforce.contact WHERE sfid = %s", (sfid,)).fetchone()
    assert row == {"lastname": "Existing", "_hc_lastop": "SYNCED"}
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0


def test_records_sharing_one_timestamp_across_a_page_boundary_are_each_read_once(conn, engine, local_org):
    from standins.connect import pull

    _org_contacts(local_org, 2500)
    written = pull.pull(conn, engine.sf, "salesforce", _contact_target(engine))
    assert written == 2500
    count = conn.execute("SELECT count(*) AS n, count(DISTINCT sfid) AS d FROM salesforce.contact").fetchone()
    assert count == {"n": 2500, "d": 2500}
    _org_contacts(local_org, 10, start=3000)  # same timestamp, later Ids, after the first pull
    assert pull.pull(conn, engine.sf, "salesforce", _contact_target(engine)) == 10
    assert conn.execute("SELECT count(*) AS n FROM salesforce.contact").fetchone()["n"] == 2510


def test_an_edit_in_the_org_reaches_postgres_without_echoing_into_the_trigger_log(conn, engine, local_org):
    sf = local_org.salesforce()
    sfid = sf.Contact.create({"LastName": "Old", "External_ID__c": "e-2"})["id"]
    engine.pull_due(conn, pull_all=True)
    sf.Contact.update(sfid, {"LastName": "New"})
    engine.pull_due(conn, pull_all=True)
    row = conn.execute("SELECT lastname, _hc_lastop FROM salesforce.contact WHERE sfid = %s", (sfid,)).fetchone()
    assert row == {"lastname": "New", "_hc_lastop": "SYNCED"}
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0


def test_a_record_deleted_in_the_org_is_deleted_in_postgres(conn, engine, local_org):
    sf = local_org.salesforce()
    sfid = sf.Contact.create({"LastName": "Doomed", "External_ID__c": "e-3"})["id"]
    engine.pull_due(conn, pull_all=True)
    sf.Contact.delete(sfid)
    engine.pull_due(conn, pull_all=True)
    assert conn.execute("SELECT 1 FROM salesforce.contact WHERE sfid = %s", (sfid,)).fetchone() is None


def test_a_row_without_sfid_is_matched_by_its_external_id_not_duplicated(conn, engine, local_org):
    ext = str(uuid.uuid4())
    with conn.transaction():
        conn.execute("SET LOCAL xmlbinary = 'hex'")
        conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Local', %s)", (ext,))
    sfid = local_org.salesforce().Contact.create({"LastName": "Remote", "External_ID__c": ext})["id"]
    engine.pull_due(conn, pull_all=True)
    rows = conn.execute("SELECT sfid, lastname FROM salesforce.contact WHERE external_id__c = %s", (ext,)).fetchall()
    assert rows == [{"sfid": sfid, "lastname": "Remote"}]


def test_a_pull_does_not_overwrite_a_change_still_waiting_to_be_sent(conn, engine, local_org):
    sf = local_org.salesforce()
    sfid = sf.Contact.create({"LastName": "Org", "External_ID__c": "e-4"})["id"]
    engine.pull_due(conn, pull_all=True)
    conn.execute("UPDATE salesforce.contact SET lastname = 'Local edit' WHERE sfid = %s", (sfid,))
    sf.Contact.update(sfid, {"Phone": "555-0199"})
    engine.pull_due(conn, pull_all=True)
    assert conn.execute("SELECT lastname FROM salesforce.contact WHERE sfid = %s", (sfid,)).fetchone() == {
        "lastname": "Local edit"}
    engine.cycle(conn, pull_all=True)  # the local change goes out, then the org's merged record comes back
    assert sf.Contact.get(sfid)["LastName"] == "Local edit"
    row = conn.execute("SELECT lastname, phone, _hc_lastop FROM salesforce.contact WHERE sfid = %s",
                       (sfid,)).fetchone()
    assert row == {"lastname": "Local edit", "phone": "555-0199", "_hc_lastop": "SYNCED"}


def test_mapping_states_watermarks_and_api_calls_are_recorded_for_the_console(conn, engine, local_org):
    local_org.salesforce().Contact.create({"LastName": "Counted", "External_ID__c": "e-5"})
    engine.cycle(conn, pull_all=True)
    contact = conn.execute("SELECT * FROM local_connect.mapping_state WHERE object_name = 'Contact'").fetchone()
    assert contact["state"] == "DATA_SYNCED" and contact["watermark_ts"] is not None
    assert contact["api_calls_today"] >= 2  # describe + query
    usage = conn.execute("SELECT used, max FROM local_connect.api_usage").fetchone()
    assert usage["max"] == 15000 and usage["used"] > 0
    assert conn.execute("SELECT state FROM local_connect.connection_state").fetchone()["state"] == "IDLE"
