"""'Send again' end to end: the local org refuses a write, then accepts it once the requeued write comes back.

The journey of a refused write and its retry, with nothing faked: the portal or the API writes
the row, the local Connect engine sends it, the local org refuses it (its refusal switch), the
customer (or an operator) sends it again, which requeues the archived entry; the engine copies
it back, the org accepts it and the badge says "Saved".
"""

import re

import pytest

from core import cases, db, logins
from standins.org import seed, store
from tests import portal_rows, refusals
from tests.portal_rows import ACCOUNT_A, ACCOUNT_B, CONTACT_A, EXT_A, order_sfid
from web.identity import customer_for

ORDER = order_sfid(ACCOUNT_A, 3)


@pytest.fixture
def org(portal_world, local_org, engine):
    """The portal's two accounts in Postgres and, with the same Ids and values, in the local org."""
    seed.from_connect_schema(local_org.org)
    return local_org


@pytest.fixture
def switch(org):
    """Turn one of the org's refusal switches on (`switch(obj, field, message)`) or off (`message=None`)."""
    switched = set()

    def turn(obj, field, message=None):
        with db.connect(org.org.database_url) as c:
            if message is None:
                store.accept_writes(c, org.org.schema, obj, field)
            else:
                store.refuse_writes(c, org.org.schema, obj, field, message)
                switched.add((obj, field))

    yield turn
    for obj, field in switched:
        turn(obj, field)


@pytest.fixture
def token(conn, org):
    """An API token for Ann."""
    return {"Authorization": "Bearer " + logins.create_api_token(conn, "app", portal_rows.make_user(conn)["id"], "t")}


def _csrf(client):
    return {"csrf_token": portal_rows.csrf(client)}


def _contact(conn):
    return conn.execute("SELECT * FROM salesforce.contact WHERE external_id__c = %s", (EXT_A,)).fetchone()


def _case(conn, key):
    return conn.execute('SELECT * FROM salesforce."case" WHERE external_id__c = %s', (key,)).fetchone()


SAVED = {"state": "saved", "label": "Saved", "final": True}


def test_a_profile_change_the_org_refused_is_saved_after_send_again_in_the_portal(client, ann, conn, engine, org,
                                                                                  switch):
    switch("Contact", "Phone", "Phone numbers are frozen during the migration.")
    form = {"phone": "+1 555 0142", "mailingcity": "Springfield", **_csrf(client)}
    assert client.post("/profile", data=form).status_code == 302
    engine.push_once()
    page = client.get("/profile").get_data(as_text=True)
    assert "Could not be saved: Phone numbers are frozen during the migration." in page and "Send again" in page
    switch("Contact", "Phone")
    assert client.post("/profile/retry", data=_csrf(client)).status_code == 302
    assert refusals.archive_states(conn, "contact") == ["REQUEUE"]
    assert client.get("/profile/status.json").get_json()["label"] == "Sending to Salesforce…"
    engine.push_once()
    assert refusals.archive_states(conn, "contact") == ["REQUEUED", "SUCCESS"]
    assert _contact(conn)["_hc_lastop"] == "UPDATED"
    assert client.get("/profile/status.json").get_json() == SAVED
    assert 'class="sync saved slds-badge slds-theme_success"' in client.get("/profile").get_data(as_text=True)
    assert org.salesforce().Contact.get(CONTACT_A)["Phone"] == "+1 555 0142"


def test_a_case_the_org_refused_is_saved_after_send_again_in_the_portal(client, ann, conn, engine, org, switch):
    switch("Case", "Subject", "Cases are closed for filing until Monday.")
    data = {"subject": "Box arrived damaged", **_csrf(client)}
    key = client.post(f"/orders/{ORDER}/cases", data=data).headers["Location"].rsplit("/", 1)[1]
    engine.push_once()
    assert "Could not be saved: Cases are closed" in client.get(f"/cases/{key}").get_data(as_text=True)
    switch("Case", "Subject")
    assert client.post(f"/cases/{key}/retry", data=_csrf(client)).status_code == 302
    assert refusals.archive_states(conn, "case") == ["REQUEUE"]
    engine.push_once()
    assert refusals.archive_states(conn, "case") == ["REQUEUED", "SUCCESS"]
    row = _case(conn, key)
    assert row["_hc_lastop"] == "INSERTED" and row["sfid"]
    assert client.get(f"/cases/{key}/status.json").get_json() == SAVED
    assert 'class="sync saved slds-badge slds-theme_success"' in client.get(f"/cases/{key}").get_data(as_text=True)
    assert org.salesforce().Case.get(row["sfid"])["Subject"] == "Box arrived damaged"


def test_a_profile_change_the_org_refused_is_saved_after_send_again_through_the_api(client, token, conn, engine,
                                                                                    org, switch):
    switch("Contact", "MailingCity", "Addresses are being checked.")
    client.patch("/api/v1/profile", headers=token, json={"mailing_city": "Capital City"})
    engine.push_once()
    assert client.get("/api/v1/profile", headers=token).get_json()["sync"]["state"] == "failed"
    switch("Contact", "MailingCity")
    again = client.post("/api/v1/profile/retry", headers=token)
    assert again.status_code == 200 and again.get_json()["sync"]["state"] == "pending"
    engine.push_once()
    assert refusals.archive_states(conn, "contact") == ["REQUEUED", "SUCCESS"]
    assert client.get("/api/v1/profile", headers=token).get_json()["sync"] == SAVED
    assert org.salesforce().Contact.get(CONTACT_A)["MailingCity"] == "Capital City"


def test_a_case_the_org_refused_is_saved_after_send_again_through_the_api(client, token, conn, engine, org, switch):
    switch("Case", "Subject", "Cases are closed for filing until Monday.")
    case = client.post(f"/api/v1/orders/{ORDER}/cases", headers=token, json={"subject": "Late"}).get_json()
    engine.push_once()
    assert client.get(case["status_url"], headers=token).get_json()["state"] == "failed"
    switch("Case", "Subject")
    again = client.post(f"{case['url']}/retry", headers=token)
    assert again.status_code == 200 and again.get_json()["sync"]["state"] == "pending"
    engine.push_once()
    assert refusals.archive_states(conn, "case") == ["REQUEUED", "SUCCESS"]
    assert client.get(case["status_url"], headers=token).get_json() == SAVED
    assert org.salesforce().Case.get(client.get(case["url"], headers=token).get_json()["id"])["Subject"] == "Late"


@pytest.fixture
def bobs_refused_case(conn, portal_world):
    """A case Bob (account B) filed, refused by Salesforce: its archived entry a requeue would resend."""
    bob = customer_for(portal_rows.make_user(conn, portal_rows.EMAIL_B))
    key = cases.file_case(conn, "salesforce", bob, {"subject": "Globex's own"}, order_sfid(ACCOUNT_B, 1))
    refusals.refuse(conn, "case", "refused")
    return key


def test_a_customer_cannot_send_another_accounts_refused_case_again(client, conn, bobs_refused_case, ann):
    assert client.post(f"/cases/{bobs_refused_case}/retry", data=_csrf(client)).status_code == 404
    token = {"Authorization": "Bearer " + logins.create_api_token(conn, "app", ann["id"], "t")}
    assert client.post(f"/api/v1/cases/{bobs_refused_case}/retry", headers=token).status_code == 404
    assert refusals.archive_states(conn, "case") == ["FAILED"]
    assert _case(conn, bobs_refused_case)["_hc_lastop"] == "FAILED"


def test_an_operator_sends_an_invoice_the_org_refused_again_from_the_console(ops, conn, engine, org, switch):
    switch("Invoice__c", "Amount__c", "Invoices are frozen during the audit.")
    # Batch invoicing's write, as the app makes it.
    conn.execute("INSERT INTO salesforce.invoice__c (name, account__c, period__c, amount__c, external_id__c) "
                 "VALUES ('INV-A-2026-02', %s, '2026-02', 120, 'inv-a-2')", (ACCOUNT_A,))
    engine.push_once()
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert "Invoices are frozen during the audit." in page
    row_id = conn.execute("SELECT id FROM salesforce.invoice__c WHERE external_id__c = 'inv-a-2'").fetchone()["id"]
    switch("Invoice__c", "Amount__c")
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page)[1], "table": "invoice__c",
            "row_id": str(row_id)}
    assert ops.post("/ops/sync/rows/retry", data=form).status_code == 302
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert "1 failed write(s) of invoice__c row" in page and "sending again…" in page
    engine.push_once()
    assert refusals.archive_states(conn, "invoice__c") == ["REQUEUED", "SUCCESS"]
    invoice = conn.execute("SELECT sfid, _hc_lastop FROM salesforce.invoice__c WHERE id = %s", (row_id,)).fetchone()
    assert invoice["_hc_lastop"] == "INSERTED"
    assert org.salesforce().Invoice__c.get(invoice["sfid"])["Amount__c"] == 120


def test_the_console_answers_404_for_a_row_it_cannot_send_again(ops, conn):
    token = portal_rows.csrf(ops)
    for table in ("invoice__c", "account", "nothing"):
        response = ops.post("/ops/sync/rows/retry", data={"csrf_token": token, "table": table, "row_id": "12345"})
        assert response.status_code == 404, table
    bad = ops.post("/ops/sync/rows/retry", data={"csrf_token": token, "table": "case", "row_id": "x"})
    assert bad.status_code == 400
