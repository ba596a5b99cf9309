"""`/ops/sync`: the sync health console, read from what Connect leaves in Postgres."""

import base64
import dataclasses
import json
import re
from xml.etree import ElementTree

import pytest

from core import config, connect, queue, sync_health, sync_sampler
from standins.connect import state
from tests.people import as_operator, log_in
from web import create_app

SVG = "http://www.w3.org/2000/svg"


def mapping(body, name):
    return next(m for m in body["mappings"] if m["object_name"] == name)


def failed_archive_row(conn, message="REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]"):
    """A write Connect tried and Salesforce refused, archived as the engine leaves it."""
    return conn.execute(
        "INSERT INTO salesforce._trigger_log_archive (id, txid, created_at, updated_at, processed_at, state, action, "
        "table_name, record_id, \"values\", sf_message) VALUES (900001, 1, now(), now(), now(), 'FAILED', 'INSERT', "
        "'contact', 1, '\"lastname\"=>NULL', %s) RETURNING id", (message,)).fetchone()["id"]


def test_operators_only(client, ops, app_config):
    off = create_app({"APP": dataclasses.replace(app_config, ops=config.Ops()), "TESTING": True}).test_client()
    assert off.get("/ops/sync").status_code == 404  # no ops credentials configured: the console is off
    anonymous = client.get("/ops/sync")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    wrong = {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()}
    assert client.get("/ops/sync", headers=wrong).status_code == 401
    assert ops.get("/ops/sync.json").status_code == 200


def test_backlog_and_its_age_come_from_the_trigger_log(ops, conn):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('A', 'a'), ('B', 'b')")
    conn.execute("UPDATE salesforce._trigger_log SET created_at = now() - interval '90 seconds'")
    body = ops.get("/ops/sync.json").get_json()
    contact = mapping(body, "Contact")
    assert contact["backlog"] == 2 and contact["health"] == "backlog"
    assert contact["oldest_pending_age_s"] >= 90
    assert mapping(body, "Case")["backlog"] == 0 and mapping(body, "Case")["health"] == "ok"
    assert contact["rows"] == 2 and contact["rows_exact"] is True


def test_failed_rows_show_their_readable_reason(ops, conn, as_connect):
    refused = json.dumps({"op": "INSERT", "msg": "A case from the web needs a subject."})
    with as_connect(conn):
        conn.execute("INSERT INTO salesforce.case (subject, external_id__c, _hc_lastop, _hc_err) VALUES "
                     "('x', 'c1', 'FAILED', %s)", (refused,))
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert "A case from the web needs a subject." in page
    assert mapping(ops.get("/ops/sync.json").get_json(), "Case")["health"] == "errors"


def test_retry_requeues_archived_failed_writes_the_way_connect_does(ops, conn):
    archived = failed_archive_row(conn)
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert "Required fields are missing" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    response = ops.post("/ops/sync/retry", data={"csrf_token": csrf, "archive_id": [archived]})
    assert response.status_code == 302
    assert conn.execute("SELECT state FROM salesforce._trigger_log_archive WHERE id = %s",
                        (archived,)).fetchone()["state"] == "REQUEUE"


def test_retry_without_the_csrf_token_is_refused(ops, conn):
    archived = failed_archive_row(conn)
    response = ops.post("/ops/sync/retry", data={"archive_id": [archived]})
    assert response.status_code == 400
    assert conn.execute("SELECT state FROM salesforce._trigger_log_archive").fetchone()["state"] == "FAILED"


def test_retry_with_nothing_chosen_is_a_clear_400(ops, conn):
    failed_archive_row(conn)
    page = ops.get("/ops/sync").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    for chosen in ({}, {"archive_id": "not-a-number"}):
        response = ops.post("/ops/sync/retry", data={"csrf_token": csrf, **chosen})
        assert response.status_code == 400 and "Choose the failed writes" in response.get_data(as_text=True)
    assert conn.execute("SELECT state FROM salesforce._trigger_log_archive").fetchone()["state"] == "FAILED"


def test_sample_job_feeds_the_chart(ops, conn, redis, env, run_jobs):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('A', 'a')")
    queue.queue(redis, "low").enqueue("worker.sync_health.sample")
    run_jobs("low")
    rows = conn.execute("SELECT object_name, backlog FROM app.sync_health_samples ORDER BY object_name").fetchall()
    assert {"object_name": "Contact", "backlog": 1} in rows
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert '<polyline class="backlog"' in page and "No samples yet" not in page


def test_sampler_starts_one_chain_only(redis, env):
    assert sync_sampler.schedule(redis) is True
    assert sync_sampler.schedule(redis) is False


def test_chart_says_so_when_there_are_no_samples(ops, conn):
    assert "No samples yet" in ops.get("/ops/sync").get_data(as_text=True)


def test_chart_is_well_formed_svg_labelled_with_its_units(ops, conn):
    times = conn.execute(
        "INSERT INTO app.sync_health_samples (taken_at, object_name, backlog, oldest_pending_age_s, failed) "
        "SELECT date_trunc('minute', now()) - m * interval '1 minute', 'Contact', b, a, 0 "
        "FROM (VALUES (30, 1234, 90.0), (0, 0, NULL)) AS v(m, b, a) "
        "RETURNING to_char(taken_at AT TIME ZONE 'UTC', 'HH24:MI') AS hhmm").fetchall()
    page = ops.get("/ops/sync").get_data(as_text=True)
    svg = ElementTree.fromstring(re.search(r"<svg\b.*?</svg>", page, re.DOTALL)[0])
    labels = [t.text for t in svg.iter(f"{{{SVG}}}text")]
    assert labels == ["backlog (max 1,234 rows)", "oldest waiting change (max 90 s)", "1,234 rows", "0 rows",
                      "90 s", "0 s", times[0]["hhmm"], "time (UTC)", f"{times[1]['hhmm']} UTC"]
    backlog = svg.find(f"{{{SVG}}}polyline[@class='backlog']")
    assert len(backlog.get("points").split()) == 2


def heroku_console(app_config, **changes):
    """An operator's client for the app as Heroku runs it: no CONNECT_INFO, so Connect's own state is unknown."""
    cfg = dataclasses.replace(app_config, connect_info=None, **changes)
    return as_operator(create_app({"APP": cfg, "TESTING": True}).test_client())


def test_connection_state_and_api_use_are_unknown_on_heroku(app_config, conn):
    console = heroku_console(app_config)
    body = console.get("/ops/sync.json").get_json()
    assert body["connection"]["state"] is None and body["connection"]["api_used"] is None
    assert body["connection"]["source"] == "unknown" and "heroku connect:info" in body["connection"]["detail"]
    assert all(m["state"] is None and m["api_calls_today"] is None for m in body["mappings"])
    page = console.get("/ops/sync").get_data(as_text=True)
    assert "unknown on Heroku: see the Connect dashboard (heroku connect:info)" in page


def test_the_console_shows_what_the_sync_costs(ops, conn):
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert "API and row budget" in page and "of the demo plan's 10,000 across all mappings" in page
    assert "do not count toward its API request limit" in page
    cost = ops.get("/ops/sync.json").get_json()["sync_cost"]
    assert cost["row_cap"] == 10_000 and cost["uses_bulk"] is False and cost["waiting"] == 0


EMPTY_LOCAL_CONNECT = "TRUNCATE local_connect.connection_state, local_connect.mapping_state, local_connect.api_usage"


@pytest.fixture
def local_connect(conn):
    """The local Connect's own tables, as the engine creates them; empty before and after (engines in other tests
    leave their counts behind)."""
    state.ensure(conn)
    conn.execute(EMPTY_LOCAL_CONNECT)
    yield
    conn.execute(EMPTY_LOCAL_CONNECT)


def test_local_engine_state_and_api_use_are_shown_when_present(ops, conn, local_connect):
    state.set_connection_state(conn, "IDLE")
    state.mapping_row(conn, "Contact")
    state.set_mapping_state(conn, "Contact", "DATA_SYNCED")
    state.count_api_calls(conn, "Contact", 7, usage=(1234, 15000))
    body = ops.get("/ops/sync.json").get_json()
    assert body["connection"]["state"] == "IDLE" and body["connection"]["api_used"] == 1234
    assert body["connection"]["source"] == "local Connect"
    contact = mapping(body, "Contact")
    assert (contact["state"], contact["api_calls_today"]) == ("DATA_SYNCED", 7)
    assert "1,234" in ops.get("/ops/sync").get_data(as_text=True)


def test_api_calls_counted_on_an_earlier_day_read_zero_today(ops, conn, local_connect):
    state.mapping_row(conn, "Contact")
    state.count_api_calls(conn, "Contact", 7)
    conn.execute("UPDATE local_connect.mapping_state SET api_calls_day = api_calls_day - 1")
    assert mapping(ops.get("/ops/sync.json").get_json(), "Contact")["api_calls_today"] == 0


def test_large_tables_show_estimates_rather_than_counting(conn, monkeypatch):
    monkeypatch.setattr(sync_health, "EXACT_COUNT_LIMIT", -1)
    conn.execute("ANALYZE salesforce.account")
    rows, exact = sync_health.row_count(conn, "salesforce", "account")
    assert exact is False


def polled(conn, object_name, ago):
    """The local Connect polled the mapping `ago` (an interval) before now, as its engine records it."""
    state.mapping_row(conn, object_name)
    conn.execute("UPDATE local_connect.mapping_state SET last_poll_at = now() - %s::interval WHERE object_name = %s",
                 (ago, object_name))


def an_account_last_changed_years_ago(conn, as_connect):
    """A record Salesforce last changed long ago: its SystemModstamp says nothing about how Connect keeps up."""
    with as_connect(conn):
        conn.execute("INSERT INTO salesforce.account (sfid, name, systemmodstamp) VALUES "
                     "('001000000000001AAA', 'Acme', timestamp '2019-07-01 09:00')")


def test_sample_records_the_lag_since_the_mappings_last_poll(conn, env, as_connect, local_connect):
    an_account_last_changed_years_ago(conn, as_connect)
    polled(conn, "Account", "15 minutes")
    sync_sampler.sample(env)
    lag = {r["object_name"]: r["lag_s"] for r in conn.execute("SELECT object_name, lag_s FROM app.sync_health_samples")}
    assert 900 <= lag["Account"] < 3600
    assert lag["Contact"] is None  # never polled: no lag to speak of


def test_lag_is_the_time_since_the_last_poll_in_human_units_not_the_newest_systemmodstamp(ops, conn, as_connect,
                                                                                         local_connect):
    an_account_last_changed_years_ago(conn, as_connect)
    polled(conn, "Account", "3 minutes")
    account = mapping(ops.get("/ops/sync.json").get_json(), "Account")
    assert 180 <= account["lag_s"] < 240 and account["polled_at"] is not None
    page = ops.get("/ops/sync").get_data(as_text=True)
    row = re.search(r'<tr class="health-\w+" data-object="Account">.*?</tr>', page, re.DOTALL)[0]
    assert re.search(r'data-field="lag">3 min<', row)
    assert not re.search(r"\d{4,} s\b", page)  # no raw seconds anywhere (the old console said "220839885 s")


def test_the_oldest_waiting_change_reads_in_human_units(ops, conn):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('A', 'a')")
    conn.execute("UPDATE salesforce._trigger_log SET created_at = now() - interval '3 hours'")
    page = ops.get("/ops/sync").get_data(as_text=True)
    row = re.search(r'<tr class="health-backlog" data-object="Contact">.*?</tr>', page, re.DOTALL)[0]
    assert 'data-field="oldest-waiting">3 h<' in row


def test_a_mapping_the_local_connect_has_not_polled_says_so(ops, conn, local_connect):
    state.mapping_row(conn, "Contact")
    page = ops.get("/ops/sync").get_data(as_text=True)
    row = re.search(r'<tr class="health-\w+" data-object="Contact">.*?</tr>', page, re.DOTALL)[0]
    assert 'data-field="lag">not polled yet<' in row


def test_on_heroku_the_lag_is_unknown_and_the_page_says_so_in_words(app_config, conn, as_connect):
    an_account_last_changed_years_ago(conn, as_connect)
    console = heroku_console(app_config)
    assert mapping(console.get("/ops/sync.json").get_json(), "Account")["lag_s"] is None
    page = console.get("/ops/sync").get_data(as_text=True)
    row = re.search(r'<tr class="health-\w+" data-object="Account">.*?</tr>', page, re.DOTALL)[0]
    assert 'data-field="lag">unknown on Heroku<' in row
    assert "unknown on Heroku: Salesforce's Setup → Company Information" in page  # the API requests, in the budget


def test_json_endpoint_shape(ops, conn):
    body = ops.get("/ops/sync.json").get_json()
    assert set(body) == {"connection", "mappings", "plan", "write_errors", "sync_cost"}
    assert {m["object_name"] for m in body["mappings"]} == set(connect.mappings())
    assert {"rows", "rows_exact", "last_change", "last_write", "polled_at", "lag_s", "backlog", "oldest_pending_age_s",
            "failed", "api_calls_today", "state", "health"} <= set(mapping(body, "Contact"))
    assert {"state", "api_used", "api_max", "source"} <= set(body["connection"])


def test_a_logged_in_customer_cannot_see_the_console(client):
    log_in(client)
    assert client.get("/ops/sync").status_code == 401


def test_failed_rows_of_every_read_write_table_are_found_by_a_partial_index(conn):
    names = {r["indexname"] for r in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'salesforce' AND indexdef LIKE '%%FAILED%%'")}
    for m in connect.mappings().values():
        if m.read_write:
            assert any(n.startswith("app_idx_") and n.endswith("_failed") and
                       (m.table.split("__")[0] in n) for n in names), m.table




def test_a_poll_by_the_local_connect_resets_the_mappings_lag(ops, conn, engine):
    engine.pull_once("Account")
    account, contact = (mapping(ops.get("/ops/sync.json").get_json(), name) for name in ("Account", "Contact"))
    assert account["polled_at"] is not None and 0 <= account["lag_s"] < 60
    assert contact["polled_at"] is None and contact["lag_s"] is None
