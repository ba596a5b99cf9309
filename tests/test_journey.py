"""The journey of a change (core/journey.py) as its JSON endpoints answer it, with the real local Connect and org.

Each test drives the sync the way it happens: the portal writes, the local Connect's engine pushes
(Postgres → org) and pulls (org → Postgres), and the record's journey.json says where the change is.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests
from psycopg import sql

from core import config, journey
from standins.org import refusals, seed
from tests import portal_rows
from tests.portal_rows import ACCOUNT_A, CASE_B, CONTACT_A, order_sfid
from web import create_app

ORG_URL = "https://acme.my.salesforce.com"
ORDER = order_sfid(ACCOUNT_A, 3)
HOPS = ["written", "captured", "picked_up", "answered", "synced"]


@pytest.fixture
def app(app_config, conn, redis):
    """The web app with SALESFORCE_ORG_URL set, as on Heroku."""
    cfg = replace(app_config, salesforce=replace(app_config.salesforce, org_url=ORG_URL))
    return create_app({"APP": cfg, "TESTING": True})


@pytest.fixture
def synced(portal_world, local_org, engine):
    """The portal's rows in Postgres and, with the same Ids, in the local org."""
    seed.from_connect_schema(local_org.org)
    return local_org


def _file_case(client, subject="Box arrived damaged") -> str:
    data = {"subject": subject, "description": "The corner was crushed.", "type": "Problem", "priority": "High",
            "csrf_token": portal_rows.csrf(client)}
    return client.post(f"/orders/{ORDER}/cases", data=data).headers["Location"].rsplit("/", 1)[1]


def _journey(client, url):
    response = client.get(url)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def _states(answer) -> list[str]:
    return [h["state"] for h in answer["hops"]]


def _hop(answer, name) -> dict:
    return next(h for h in answer["hops"] if h["hop"] == name)


def test_a_filed_case_is_written_and_captured_and_waits_for_connect(client, ann, conn):
    key = _file_case(client)
    answer = _journey(client, f"/cases/{key}/journey.json")
    entry = conn.execute("SELECT id, txid FROM salesforce._trigger_log WHERE table_name = 'case'").fetchone()
    assert [h["hop"] for h in answer["hops"]] == HOPS
    assert _states(answer) == ["done", "done", "waiting", "waiting", "waiting"]
    assert _hop(answer, "captured")["detail"] == f"Entry {entry['id']}, transaction {entry['txid']}"
    assert _hop(answer, "written")["at"].endswith("Z") and _hop(answer, "written")["detail"].endswith("PENDING")
    assert answer["final"] is False and answer["state"] == "pending" and answer["lastop"] == "PENDING"
    assert answer["status"]["label"] == "Sending to Salesforce…"
    assert answer["sfid"] is None and answer["record_url"] is None and answer["fields"]["casenumber"] is None


def test_the_case_journey_follows_connect_to_salesforce_and_back(client, ann, conn, synced, engine):
    key = _file_case(client)
    engine.push_once()
    answer = _journey(client, f"/cases/{key}/journey.json")
    sfid = answer["sfid"]
    assert _states(answer) == ["done", "done", "done", "done", "current"]
    assert _hop(answer, "answered")["detail"] == f"SUCCESS: saved as {sfid}" and _hop(answer, "answered")["at"]
    assert _hop(answer, "synced")["detail"] == "INSERTED: waiting for Connect's next poll"
    assert answer["last_poll"] is None  # the engine has not polled Case yet
    assert answer["final"] is False and answer["status"]["label"] == "Saved"
    assert answer["record_url"] == f"{ORG_URL}/lightning/r/Case/{sfid}/view"

    engine.pull_once("Case")
    answer = _journey(client, f"/cases/{key}/journey.json")
    number = synced.salesforce().Case.get(sfid)["CaseNumber"]
    assert _states(answer) == ["done"] * 5 and answer["lastop"] == "SYNCED"
    assert answer["final"] is True and answer["state"] == "synced" and answer["systemmodstamp"]
    assert answer["fields"]["casenumber"] == number
    assert answer["last_poll"] and "; Connect last polled Case at " in _hop(answer, "synced")["detail"]
    page = client.get(f"/cases/{key}").get_data(as_text=True)
    assert number in page and f'href="{ORG_URL}/lightning/r/Case/{sfid}/view"' in page


def test_a_refused_case_shows_failed_with_salesforces_message_and_send_again(client, ann, conn, synced, engine):
    with synced.org.connection() as c:
        refusals.switch_on(c, synced.org.schema, "validation", "Case", "Subject", "Subjects are checked by hand.")
    key = _file_case(client)
    engine.push_once()
    answer = _journey(client, f"/cases/{key}/journey.json")
    assert _states(answer) == ["done", "done", "done", "failed", "skipped"]
    assert _hop(answer, "answered")["detail"] == (
        "FAILED: FIELD_CUSTOM_VALIDATION_EXCEPTION: Subjects are checked by hand.")
    assert _hop(answer, "answered")["word"] == "Refused"
    assert answer["final"] is True and answer["state"] == "failed"
    assert "Send again" in client.get(f"/cases/{key}").get_data(as_text=True)


def test_a_case_sent_again_is_on_its_way_once_more(client, ann, conn, synced, engine):
    with synced.org.connection() as c:
        refusals.switch_on(c, synced.org.schema, "validation", "Case", "Subject", "Subjects are checked by hand.")
    key = _file_case(client)
    engine.push_once()
    assert client.post(f"/cases/{key}/retry", data={"csrf_token": portal_rows.csrf(client)}).status_code == 302
    answer = _journey(client, f"/cases/{key}/journey.json")
    assert _hop(answer, "picked_up")["detail"] == "REQUEUE: waiting to be sent again"
    assert answer["final"] is False and answer["status"]["label"] == "Sending to Salesforce…"


def test_a_page_that_sees_no_journey_js_still_shows_every_hop(client, ann):
    page = client.get(f"/cases/{_file_case(client)}").get_data(as_text=True)
    assert page.count('class="slds-progress__item journey-hop') == 5
    assert 'aria-live="polite"' in page and "Captured in the trigger log" in page and ">Waiting<" in page


@pytest.mark.parametrize("url", [f"/cases/{CASE_B}/journey.json", "/cases/no-such-case/journey.json",
                                 f"/invoices/{portal_rows.invoice_sfid(portal_rows.ACCOUNT_B, 1)}/journey.json",
                                 "/invoices/inv-b-1/journey.json"])
def test_another_accounts_record_or_none_is_404(client, ann, url):
    assert client.get(url).status_code == 404


def test_a_visitor_is_sent_to_log_in(client, portal_world):
    response = client.get("/profile/journey.json")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_contact_synced_from_salesforce_has_no_change_on_its_way(client, ann):
    answer = _journey(client, "/profile/journey.json")
    assert answer["object"] == "Contact" and answer["sfid"] == CONTACT_A
    assert _states(answer) == ["skipped", "skipped", "skipped", "skipped", "done"]
    assert answer["final"] is True and answer["record_url"] == f"{ORG_URL}/lightning/r/Contact/{CONTACT_A}/view"
    assert answer["fields"]["phone"] == "+1 555 0100" and answer["fields"]["mailingcity"] == "Springfield"


def test_a_profile_edit_goes_to_salesforce_and_an_org_edit_comes_back(client, ann, conn, synced, engine):
    form = {"phone": "+1 555 0142", "mailingcity": "Springfield", "csrf_token": portal_rows.csrf(client)}
    client.post("/profile", data=form)
    answer = _journey(client, "/profile/journey.json")
    assert _states(answer)[:3] == ["done", "done", "waiting"] and _hop(answer, "written")["detail"].startswith(
        "UPDATE")
    engine.push_once()
    assert _states(_journey(client, "/profile/journey.json")) == ["done", "done", "done", "done", "current"]

    synced.salesforce().Contact.update(CONTACT_A, {"MailingCity": "Lima"})
    engine.pull_once("Contact")
    answer = _journey(client, "/profile/journey.json")
    assert answer["fields"]["mailingcity"] == "Lima" and answer["fields"]["phone"] == "+1 555 0142"
    assert _states(answer) == ["done"] * 5 and answer["final"] is True


def test_an_invoice_synced_from_salesforce_is_final(client, ann):
    answer = _journey(client, "/invoices/inv-a-1/journey.json")
    assert answer["object"] == "Invoice__c" and answer["fields"]["status__c"] == "Issued" and answer["final"]
    assert answer["record_url"] == f"{ORG_URL}/lightning/r/Invoice__c/a0IA00000000001AAA/view"


def test_without_an_org_url_there_is_no_salesforce_link(app_config, conn, redis, portal_world):
    client = create_app({"APP": app_config, "TESTING": True}).test_client()
    portal_rows.session_for(client, portal_rows.make_user(conn))
    assert client.get("/profile/journey.json").get_json()["record_url"] is None
    assert '<p class="journey-link" hidden>' in client.get("/profile").get_data(as_text=True)


def test_pages_say_when_their_rows_last_changed_in_salesforce(client, ann, conn, as_connect):
    three_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=3)
    with as_connect(conn):
        for table in ('"order"', "case", "invoice__c", "contact"):
            conn.execute(sql.SQL("UPDATE salesforce.{} SET systemmodstamp = %s").format(sql.SQL(table)),
                         (three_minutes_ago,))
    for url in ("/orders", f"/orders/{ORDER}", "/invoices", "/invoices/inv-a-1", "/profile"):
        page = client.get(url).get_data(as_text=True)
        assert "Synced from Salesforce: last change" in page and "3 min ago" in page, url


def test_a_page_whose_rows_never_came_from_salesforce_says_nothing_of_it(client, ann):
    assert "Synced from Salesforce" not in client.get("/cases").get_data(as_text=True)


def _plan(conn, query, params) -> str:
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a small table would otherwise be scanned whole
        return "\n".join(r["QUERY PLAN"] for r in conn.execute(sql.SQL("EXPLAIN ") + query, params))


def test_the_trigger_log_lookup_uses_an_index_on_both_tables(conn, portal_world):
    plan = _plan(conn, journey._query("salesforce", journey.KINDS["contact"]), {
        "account": ACCOUNT_A, "contact_sfid": CONTACT_A, "contact_external_id": portal_rows.EXT_A})
    assert "app_idx_trigger_log_record" in plan and "idx__trigger_log_archive_record_id" in plan
    assert "Seq Scan" not in plan


@pytest.mark.parametrize(("seconds", "words"), [(5, "just now"), (50, "50 s ago"), (180, "3 min ago"),
                                                (7200, "2 h ago"), (3 * 86400, "3 d ago")])
def test_ages_are_said_in_one_human_unit(seconds, words):
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert journey.age_words(now - timedelta(seconds=seconds), now) == words


def test_the_org_url_is_kept_without_a_trailing_slash_and_must_be_an_origin(app_config):
    base = {"DATABASE_URL": app_config.database_url, "REDIS_URL": app_config.redis_url}
    assert config.load({**base, "SALESFORCE_ORG_URL": f"{ORG_URL}/"}).salesforce.org_url == ORG_URL
    with pytest.raises(config.ConfigError, match="SALESFORCE_ORG_URL must be the org's URL"):
        config.load({**base, "SALESFORCE_ORG_URL": f"{ORG_URL}/lightning/page/home"})


def test_the_local_org_answers_a_records_lightning_url_with_its_page(local_org, sf):
    contact = sf.Contact.create({"LastName": "Lovelace"})["id"]
    session = requests.Session()
    session.trust_env = False
    response = session.get(f"{local_org.url}/lightning/r/contact/{contact}/view", allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/o/Contact/{contact}")
    assert "Lovelace" in session.get(f"{local_org.url}/lightning/r/Contact/{contact}/view").text
    assert session.get(f"{local_org.url}/lightning/r/NoSuchThing/{contact}/view").status_code == 404
