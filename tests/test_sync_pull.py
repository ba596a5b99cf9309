"""The local Connect's pull: org changes reach Postgres the way Heroku Connect writes them."""


from standins.connect import pull


def create_accounts(sf, names):
    """Create accounts in one collections call: one transaction, so they share a SystemModstamp."""
    records = [{"attributes": {"type": "Account"}, "Name": n} for n in names]
    return [r["id"] for r in sf.restful("composite/sobjects", method="POST", json={"allOrNone": True,
                                                                                   "records": records})]


def test_records_created_in_the_org_arrive_as_synced_rows_without_trigger_log_noise(conn, engine, sf):
    create_accounts(sf, ["Acme", "Globex"])
    assert engine.pull_once("Account") == 2
    rows = conn.execute("SELECT name, sfid, _hc_lastop, systemmodstamp FROM salesforce.account ORDER BY name")
    rows = rows.fetchall()
    assert [r["name"] for r in rows] == ["Acme", "Globex"]
    assert all(r["_hc_lastop"] == "SYNCED" and r["sfid"] and r["systemmodstamp"] for r in rows)
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0
    assert engine.pull_once("Account") == 0  # nothing repeated


def test_records_sharing_a_timestamp_across_page_boundaries_are_neither_missed_nor_repeated(conn, engine, sf,
                                                                                            monkeypatch):
    monkeypatch.setattr(pull, "PULL_PAGE", 3)
    ids = create_accounts(sf, [f"Shared {i}" for i in range(7)])
    stamps = {r["SystemModstamp"] for r in sf.query("SELECT SystemModstamp FROM Account")["records"]}
    assert len(stamps) == 1  # the case a naive "> last timestamp" poller gets wrong
    assert engine.pull_once("Account") == 7
    pulled = [r["sfid"] for r in conn.execute("SELECT sfid FROM salesforce.account ORDER BY sfid")]
    assert pulled == sorted(ids)
    create_accounts(sf, ["Later"])
    assert engine.pull_once("Account") == 1


def test_an_update_in_the_org_updates_the_row(conn, engine, sf):
    (acme,) = create_accounts(sf, ["Acme"])
    engine.pull_once("Account")
    sf.Account.update(acme, {"Name": "Acme Renamed", "BillingCity": "Lima"})
    engine.pull_once("Account")
    row = conn.execute("SELECT name, billingcity, _hc_lastop FROM salesforce.account").fetchone()
    assert (row["name"], row["billingcity"], row["_hc_lastop"]) == ("Acme Renamed", "Lima", "SYNCED")


def test_a_delete_in_the_org_deletes_the_row(conn, engine, sf):
    acme, globex = create_accounts(sf, ["Acme", "Globex"])
    engine.pull_once("Account")
    sf.Account.delete(acme)
    engine.pull_once("Account")
    assert [r["sfid"] for r in conn.execute("SELECT sfid FROM salesforce.account")] == [globex]
    assert conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log").fetchone()["n"] == 0


def test_a_postgres_born_row_is_matched_by_its_external_id_not_duplicated(conn, engine, sf, as_connect):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Born here', 'pg-1')")
    sfid = sf.Contact.create({"LastName": "Born here", "External_ID__c": "pg-1", "Phone": "42"})["id"]
    # Salesforce took the insert but the sfid never came back (a crash in between): no sfid, not pending.
    conn.execute("DELETE FROM salesforce._trigger_log")
    with as_connect(conn):
        conn.execute("UPDATE salesforce.contact SET _hc_lastop = 'INSERTED'")
    engine.pull_once("Contact")
    rows = conn.execute("SELECT sfid, phone FROM salesforce.contact").fetchall()
    assert rows == [{"sfid": sfid, "phone": "42"}]


def test_a_row_with_an_unsent_app_change_is_not_overwritten(conn, engine, sf):
    sfid = sf.Contact.create({"LastName": "Doe", "External_ID__c": "c-1"})["id"]
    engine.pull_once("Contact")
    conn.execute("UPDATE salesforce.contact SET phone = 'typed in the portal'")
    sf.Contact.update(sfid, {"MailingCity": "Oslo"})
    engine.pull_once("Contact")
    row = conn.execute("SELECT phone, _hc_lastop FROM salesforce.contact").fetchone()
    assert (row["phone"], row["_hc_lastop"]) == ("typed in the portal", "PENDING")
    engine.push_once()
    engine.pull_once("Contact")
    row = conn.execute("SELECT phone, mailingcity, _hc_lastop FROM salesforce.contact").fetchone()
    assert (row["phone"], row["mailingcity"]) == ("typed in the portal", "Oslo")


def test_lookups_filled_by_salesforce_come_back_and_computed_fields_too(conn, engine, sf):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Parent', 'p-1')")
    conn.execute("INSERT INTO salesforce.case (subject, external_id__c, contact__external_id__c) "
                 "VALUES ('Help', 'case-1', 'p-1')")
    engine.push_once()
    engine.pull_once("Contact")
    engine.pull_once("Case")
    case = conn.execute("SELECT contactid, casenumber, status, _hc_lastop FROM salesforce.case").fetchone()
    contact = conn.execute("SELECT sfid FROM salesforce.contact").fetchone()
    assert case["contactid"] == contact["sfid"] and case["casenumber"] and case["status"] == "New"
    assert case["_hc_lastop"] == "SYNCED"


def test_mapping_state_and_api_calls_are_recorded(conn, engine, sf):
    create_accounts(sf, ["Acme"])
    engine.pull_once("Account")
    mapping = conn.execute("SELECT * FROM local_connect.mapping_state WHERE object_name = 'Account'").fetchone()
    assert mapping["state"] == "DATA_SYNCED" and mapping["rows_pulled"] == 1 and mapping["api_calls"] >= 2
    assert mapping["watermark_id"].startswith("001")


def test_a_record_deleted_before_its_first_read_never_arrives(conn, engine, sf):
    acme, globex = create_accounts(sf, ["Acme", "Globex"])
    sf.Account.delete(acme)
    assert engine.pull_once("Account") == 1
    assert [r["sfid"] for r in conn.execute("SELECT sfid FROM salesforce.account")] == [globex]


def test_reading_the_drift_window_again_neither_rewrites_rows_nor_moves_the_watermark_back(conn, engine, sf):
    create_accounts(sf, ["Acme"])
    engine.pull_once("Account")
    mark = "SELECT watermark_ts, watermark_id FROM local_connect.mapping_state WHERE object_name = 'Account'"
    before = conn.execute(mark).fetchone()
    xmin = conn.execute("SELECT xmin::text AS x FROM salesforce.account").fetchone()["x"]
    assert engine.pull_once("Account") == 0
    assert conn.execute(mark).fetchone() == before
    assert conn.execute("SELECT xmin::text AS x FROM salesforce.account").fetchone()["x"] == xmin  # not rewritten


def test_an_update_made_in_the_org_while_a_read_is_behind_comes_through_once(conn, engine, sf):
    (acme,) = create_accounts(sf, ["Acme"])
    engine.pull_once("Account")
    sf.Account.update(acme, {"Phone": "1"})
    sf.Account.update(acme, {"Phone": "2"})
    assert engine.pull_once("Account") == 1
    assert conn.execute("SELECT phone FROM salesforce.account").fetchone()["phone"] == "2"
