"""Connection operations on the local Connect, with Connect's rules: pause only from IDLE, resume, a mapping
reload, a maintenance window, an expired authorization, an unreachable org; the commands and the console.

The engine's loop runs here one `cycle()` at a time (the same Runner `python -m standins.connect`
runs), against the test database and the local org.
"""

import dataclasses
import re
import subprocess
import sys

import pytest

from core import config, connect, salesforce
from core.paths import ROOT
from standins.connect import operations, pull, state
from standins.connect.__main__ import Runner
from standins.connect.engine import Engine
from standins.org import seed
from tests import portal_rows
from tests.people import as_operator
from tests.processes import environment
from web import create_app

UNREACHABLE = "http://127.0.0.1:9"


class Org:
    """The engine's way to the local org, which a test can cut (unreachable) and restore."""

    def __init__(self, local_org):
        self.local_org, self.down, self.clients = local_org, False, []

    def __call__(self):
        url = UNREACHABLE if self.down else self.local_org.url
        client = salesforce.connect(config.Salesforce(local_url=url))
        self.clients.append(client)
        return client

    def revoke_session(self):
        """End the engine's current session in the org (what an expired authorization does to it)."""
        org = self.local_org.org
        org.revoke(org.session_claims(self.clients[-1].session_id)["n"])


@pytest.fixture
def org(local_org):
    return Org(local_org)


def polling_every_cycle(engine: Engine) -> Runner:
    """The loop for `engine`, reading every mapping on every cycle (Connect's intervals scaled to nothing)."""
    pull.configure(engine, plan=connect.plan("enterprise"), time_scale=1e9)
    return Runner(engine, push_every=0.1)


@pytest.fixture
def runner(database_url, conn, org):
    """The engine's loop, holding the one-engine lock, polling on every cycle; no request left behind."""
    engine = Engine(database_url, "salesforce", salesforce_factory=org)
    conn.execute("TRUNCATE local_connect.mapping_state, local_connect.connection_state, local_connect.operations")
    loop = polling_every_cycle(engine)
    loop.listen()
    yield loop
    conn.execute("TRUNCATE local_connect.connection_state, local_connect.operations")
    loop.listener.close()
    engine.conn.close()


def ask(runner, operation, object_name=None):
    """A request as the command writes it, answered by the engine's next cycle."""
    request = state.request_operation(runner.conn, operation, object_name)
    runner.cycle()
    return state.operation(runner.conn, request)


def connection_state(conn):
    return state.connection(conn)["state"]


def insert_contact(conn, key="ops-1"):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Queued', %s)", (key,))


def waiting(conn):
    return conn.execute("SELECT count(*) AS n FROM salesforce._trigger_log WHERE state = 'NEW'").fetchone()["n"]


def sent(conn, key="ops-1"):
    return conn.execute("SELECT sfid FROM salesforce.contact WHERE external_id__c = %s", (key,)).fetchone()["sfid"]


# ---- pause and resume -----------------------------------------------------------------------------


def test_pause_from_idle_queues_changes_and_resume_sends_them(conn, runner):
    runner.cycle()
    assert connection_state(conn) == "IDLE"
    assert ask(runner, "pause")["outcome"] == "done" and connection_state(conn) == "PAUSED"
    insert_contact(conn)
    for _ in range(3):
        runner.cycle()
    assert waiting(conn) == 1 and sent(conn) is None and connection_state(conn) == "PAUSED"
    answer = ask(runner, "resume")
    assert answer["outcome"] == "done" and "resumed" in answer["message"]
    runner.cycle()
    assert waiting(conn) == 0 and sent(conn) is not None and connection_state(conn) == "IDLE"


def test_pause_is_refused_unless_the_connection_is_idle(conn, runner, org):
    org.down = True
    runner.cycle()
    assert connection_state(conn) == "SYSTEM_ERROR"
    answer = ask(runner, "pause")
    assert answer["outcome"] == "refused"
    assert "SYSTEM_ERROR" in answer["message"] and "only from IDLE" in answer["message"]
    assert state.connection(conn)["paused"] is False


def test_pause_is_refused_while_the_engine_is_sending(conn, runner):
    runner.cycle()
    state.set_connection_state(conn, "POLLING_DB_CHANGES")  # what the engine records during a push
    answer = ask(runner, "pause")
    assert answer["outcome"] == "refused" and "was POLLING_DB_CHANGES" in answer["message"]
    assert connection_state(conn) == "IDLE"  # the push finished; now a pause is accepted
    assert ask(runner, "pause")["outcome"] == "done"


def test_resume_of_a_connection_that_is_not_paused_is_refused(conn, runner):
    runner.cycle()
    answer = ask(runner, "resume")
    assert answer["outcome"] == "refused" and "not paused" in answer["message"]


def test_a_paused_connection_stays_paused_when_the_engine_restarts(conn, runner, database_url, org):
    runner.cycle()
    ask(runner, "pause")
    runner.set_state("PAUSED", "engine stopped")  # what a stopping engine records
    runner.listener.close()
    again = polling_every_cycle(Engine(database_url, "salesforce", salesforce_factory=org))
    again.listen()
    insert_contact(conn)
    again.cycle()
    assert waiting(conn) == 1 and state.connection(conn)["detail"] == operations.PAUSED_DETAIL
    again.listener.close()
    again.engine.conn.close()


# ---- maintenance ----------------------------------------------------------------------------------


def test_a_maintenance_window_queues_writes_and_they_drain_afterwards(conn, runner):
    runner.cycle()
    assert ask(runner, "maintenance", "on")["outcome"] == "done"
    current = state.connection(conn)
    assert current["state"] == "PAUSED" and "maintenance window" in current["detail"]
    for n in range(3):
        insert_contact(conn, f"m-{n}")
        runner.cycle()
    assert waiting(conn) == 3
    refused = ask(runner, "resume")
    assert refused["outcome"] == "refused" and "maintenance off" in refused["message"]
    assert ask(runner, "maintenance", "off")["outcome"] == "done"
    runner.cycle()
    assert waiting(conn) == 0 and all(sent(conn, f"m-{n}") for n in range(3))
    assert connection_state(conn) == "IDLE"


# ---- expired authorization, unreachable org -------------------------------------------------------


def test_an_expired_authorization_is_unauthorized_keeps_changes_and_recovers_on_sf_auth(conn, runner, org,
                                                                                        monkeypatch):
    runner.cycle()
    org.revoke_session()
    monkeypatch.setenv("LOCAL_ORG_PASSWORD", "changed")  # the engine's stored login no longer works
    insert_contact(conn)
    for _ in range(4):
        runner.cycle()
        if connection_state(conn) == "UNAUTHORIZED":
            break
    current = state.connection(conn)
    assert current["state"] == "UNAUTHORIZED" and "INVALID_LOGIN" in current["detail"]
    assert "sf:auth" in current["detail"]
    logins = len(org.clients)
    for _ in range(3):
        assert runner.cycle() == runner.push_every  # no backoff: it waits for a person, not for the org
    assert len(org.clients) == logins, "an unauthorized connection does not keep trying to log in"
    assert waiting(conn) == 1 and sent(conn) is None
    monkeypatch.delenv("LOCAL_ORG_PASSWORD")
    assert ask(runner, "sf:auth")["outcome"] == "done"
    runner.cycle()
    assert sent(conn) is not None and connection_state(conn) == "IDLE"


def test_sf_expire_makes_the_connection_unauthorized_until_sf_auth(conn, runner):
    runner.cycle()
    assert ask(runner, "sf:expire")["outcome"] == "done" and connection_state(conn) == "UNAUTHORIZED"
    insert_contact(conn)
    runner.cycle()
    assert waiting(conn) == 1
    ask(runner, "sf:auth")
    runner.cycle()
    assert waiting(conn) == 0 and connection_state(conn) == "IDLE"


def test_an_unreachable_org_backs_off_and_keeps_changes(conn, runner, org):
    runner.cycle()
    org.down = True
    runner.engine.log_out()
    insert_contact(conn)
    waits = [runner.cycle() for _ in range(5)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    current = state.connection(conn)
    assert current["state"] == "SYSTEM_ERROR" and "unreachable" in current["detail"]
    assert waiting(conn) == 1 and sent(conn) is None
    org.down = False
    assert runner.cycle() < 1.0
    assert sent(conn) is not None and connection_state(conn) == "IDLE"


def test_each_state_change_is_recorded_once(conn, runner):
    before = state.last_state_change(conn)
    for _ in range(3):
        runner.cycle()
    insert_contact(conn)
    runner.cycle()
    ask(runner, "pause")
    ask(runner, "resume")
    assert [c["state"] for c in state.state_changes(conn, before)] == [
        "IDLE", "POLLING_DB_CHANGES", "IDLE", "PAUSED", "IDLE"]


# ---- reload ---------------------------------------------------------------------------------------


def order_links(client):
    """The orders the portal lists on its first page, by sfid."""
    return re.findall(r'href="/orders/(801\w+)"', client.get("/orders").get_data(as_text=True))


@pytest.fixture
def synced_world(conn, local_org, portal_world, ann):
    """The portal's rows in Postgres and the same records in the org, as after Connect's initial load."""
    seed.from_connect_schema(local_org.org, "salesforce")
    return ann


def test_a_reload_refills_the_table_and_the_app_survives_it(conn, client, runner, synced_world):
    before = conn.execute("SELECT id, sfid, email FROM salesforce.contact ORDER BY sfid").fetchall()
    orders_before = order_links(client)
    assert orders_before and client.get("/profile").status_code == 200
    runner.cycle()
    for name in ("Contact", "Account", "Order"):
        answer = ask(runner, "mapping:reload", name)
        assert answer["outcome"] == "done", answer["message"]
        assert state.mapping_row(conn, name)["state"] == "DATA_SYNCED"
    after = conn.execute("SELECT id, sfid, email FROM salesforce.contact ORDER BY sfid").fetchall()
    assert [(r["sfid"], r["email"]) for r in after] == [(r["sfid"], r["email"]) for r in before]
    assert {r["id"] for r in after}.isdisjoint({r["id"] for r in before}), "a reload gives every row a new id"
    # The app's own rows name Connect rows by sfid and external id, so they still resolve.
    user = conn.execute("SELECT contact_sfid FROM app.portal_users WHERE id = %s", (synced_world["id"],)).fetchone()
    assert conn.execute("SELECT 1 FROM salesforce.contact WHERE sfid = %s", (user["contact_sfid"],)).fetchone()
    for page in ("/profile", "/orders", f"/orders/{portal_rows.order_sfid(portal_rows.ACCOUNT_A, 1)}", "/cases"):
        assert client.get(page).status_code == 200, page
    assert order_links(client) == orders_before


def test_a_reload_sends_waiting_changes_first(conn, runner, local_org):
    runner.cycle()
    ask(runner, "pause")
    insert_contact(conn)
    ask(runner, "resume")
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('Late', 'ops-late')")
    answer = ask(runner, "mapping:reload", "Contact")
    assert answer["outcome"] == "done"
    assert {r["external_id__c"] for r in conn.execute("SELECT external_id__c FROM salesforce.contact")} == {
        "ops-1", "ops-late"}
    assert local_org.salesforce().query("SELECT Id FROM Contact")["totalSize"] == 2


def test_a_reload_that_cannot_reach_the_org_stays_reload_table_then_finishes(conn, runner, org, synced_world):
    runner.cycle()
    org.down = True
    runner.engine.log_out()
    answer = ask(runner, "mapping:reload", "Contact")
    assert answer["outcome"] == "refused" and "RELOAD_TABLE" in answer["message"]
    assert state.mapping_row(conn, "Contact")["state"] == "RELOAD_TABLE"
    org.down = False
    runner.cycle()
    assert state.mapping_row(conn, "Contact")["state"] == "DATA_SYNCED"
    assert conn.execute("SELECT count(*) AS n FROM salesforce.contact").fetchone()["n"] >= 1


def test_reload_of_an_unmapped_object_or_a_paused_connection_is_refused(conn, runner):
    runner.cycle()
    assert "no mapping for 'Lead'" in ask(runner, "mapping:reload", "Lead")["message"]
    ask(runner, "pause")
    answer = ask(runner, "mapping:reload", "Contact")
    assert answer["outcome"] == "refused" and "resume it" in answer["message"]


# ---- the commands ---------------------------------------------------------------------------------


def command(app_config, *args, wait=False):
    """`python -m standins.connect <args>` against the test database."""
    argv = [sys.executable, "-m", "standins.connect", *args]
    env = environment(app_config)
    if wait:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def answered(process, runner):
    """Run the engine's cycles until the command exits (it waits for the engine's answer)."""
    for _ in range(600):
        if process.poll() is not None:
            break
        runner.cycle()
        runner.wait(0.05, [])
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def test_the_commands_read_the_states(app_config, conn, runner):
    runner.cycle()
    shown = command(app_config, "state")
    assert (shown.returncode, shown.stdout) == (0, "IDLE\n")
    mapping = command(app_config, "mapping:state", "contact")
    assert (mapping.returncode, mapping.stdout) == (0, "DATA_SYNCED\n")
    info = command(app_config, "info")
    assert info.returncode == 0 and "State:   IDLE" in info.stdout
    assert any(line.split()[:2] == ["Contact", "DATA_SYNCED"] for line in info.stdout.splitlines())
    unknown = command(app_config, "mapping:state", "Lead")
    assert unknown.returncode == 1 and "no mapping for 'Lead'" in unknown.stderr


def test_pause_and_resume_commands_answer_with_the_engines_verdict(app_config, conn, runner):
    runner.cycle()
    code, out, _ = answered(command(app_config, "pause", wait=True), runner)
    assert code == 0 and out.startswith("paused")
    code, _, err = answered(command(app_config, "pause", wait=True), runner)
    assert code == 1 and err.startswith("refused: the connection is already PAUSED")
    code, out, _ = answered(command(app_config, "resume", wait=True), runner)
    assert code == 0 and out.startswith("resumed")
    code, out, _ = answered(command(app_config, "mapping:reload", "Contact", wait=True), runner)
    assert code == 0 and "Contact reloaded" in out


def test_a_command_without_a_running_engine_changes_nothing(app_config, conn):
    result = command(app_config, "pause")
    assert result.returncode == 3 and "not running" in result.stderr
    assert conn.execute("SELECT count(*) AS n FROM local_connect.operations").fetchone()["n"] == 0


def test_bad_usage_is_exit_status_2(app_config):
    result = command(app_config, "maintenance", "sideways")
    assert result.returncode == 2 and "invalid choice" in result.stderr


# ---- the console ----------------------------------------------------------------------------------


def test_the_console_shows_the_connection_and_mapping_states(ops, conn, runner):
    runner.cycle()
    ask(runner, "pause")
    body = ops.get("/ops/sync.json").get_json()
    assert body["connection"]["state"] == "PAUSED" and "connect:resume" in body["connection"]["detail"]
    assert next(m for m in body["mappings"] if m["object_name"] == "Contact")["state"] == "DATA_SYNCED"
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert 'data-field="connection-state">PAUSED<' in page and "DATA_SYNCED" in page
    assert "heroku connect:pause" in page and "python -m standins.connect pause" in page


def csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def test_the_console_offers_the_local_operations_and_the_engine_carries_them_out(ops, conn, runner):
    runner.cycle()
    page = ops.get("/ops/sync").get_data(as_text=True)
    assert 'name="operation" value="pause"' in page and 'name="operation" value="mapping:reload"' in page
    response = ops.post("/ops/sync/operations", data={"csrf_token": csrf(page), "operation": "pause"})
    assert response.status_code == 302
    assert "pause requested" in ops.get("/ops/sync").get_data(as_text=True)
    runner.cycle()
    assert connection_state(conn) == "PAUSED"
    reload = ops.post("/ops/sync/operations", data={"csrf_token": csrf(page), "operation": "mapping:reload",
                                                    "object_name": "Lead"})
    assert reload.status_code == 400 and "mapped object" in reload.get_data(as_text=True)
    unknown = ops.post("/ops/sync/operations", data={"csrf_token": csrf(page), "operation": "sf:expire"})
    assert unknown.status_code == 400 and "heroku connect:pause" in unknown.get_data(as_text=True)
    assert ops.post("/ops/sync/operations", data={"operation": "resume"}).status_code == 400  # no CSRF token


def test_on_heroku_the_console_offers_no_operations(app_config, conn):
    heroku = as_operator(create_app({"APP": dataclasses.replace(app_config, connect_info=None),
                                     "TESTING": True}).test_client())
    page = heroku.get("/ops/sync").get_data(as_text=True)
    assert 'name="operation"' not in page and "heroku connect:pause" in page
    token = csrf(heroku.get("/login").get_data(as_text=True))  # the page itself has no form now
    response = heroku.post("/ops/sync/operations", data={"csrf_token": token, "operation": "pause"})
    assert response.status_code == 400 and "not offered here" in response.get_data(as_text=True)
