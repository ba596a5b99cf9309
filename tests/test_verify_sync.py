"""`verify-sync` (setup step 5) against the local stack, and the causes it names when the sync is broken."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from core import config, connect, salesforce
from core.paths import ROOT
from core.verify_sync import VerifyFailed, sample_record, verify
from standins import run

pytestmark = pytest.mark.slow


@pytest.fixture
def engine_process(database_url, local_org, conn):
    """A real `python -m standins.connect` against the test database and the local org."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOCAL_ORG_URL": local_org.url, "REDIS_URL": "redis://x",
           "LOCAL_CONNECT_PUSH_SECONDS": "0.2", "LOCAL_CONNECT_TIME_SCALE": "2000"}
    started = []

    def start():
        p = subprocess.Popen([sys.executable, "-m", "standins.connect"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(15)


@pytest.mark.parametrize("object_name", ["Contact", "Case", "Invoice__c"])
def test_verify_sync_passes_for_every_read_write_mapping(database_url, local_org, engine_process, object_name):
    sf = local_org.salesforce()
    account = sf.Account.create({"Name": "Parent Co."})["id"]  # Invoice__c.Account__c is a required lookup
    engine_process()
    lines = []
    steps = verify(database_url, "salesforce", object_name=object_name, timeout=30,
                   salesforce_factory=local_org.salesforce, echo=lines.append)
    assert len(steps) == 8 and all(" ok " in line for line in lines)
    assert sf.query(f"SELECT Id FROM {object_name}")["totalSize"] == 0  # noqa: S608 (cleaned up)
    assert [r["Id"] for r in sf.query("SELECT Id FROM Account")["records"]] == [account]


def test_the_test_record_is_built_from_the_describe(local_org):
    sf = local_org.salesforce()
    account = sf.Account.create({"Name": "Parent Co."})["id"]
    marker = uuid.uuid4()
    case = sample_record(sf, connect.mappings()["Case"], marker)
    # Case.Status is a required picklist: its first active value; Subject names the record.
    assert (case.text_field, case.values["status"], case.values["external_id__c"]) == ("Subject", "New", str(marker))
    invoice = sample_record(sf, connect.mappings()["Invoice__c"], marker)
    assert (invoice.text_field, invoice.values["account__c"]) == ("Name", account)
    assert sample_record(sf, connect.mappings()["Contact"], marker).text_field == "LastName"


def test_a_required_lookup_without_a_parent_in_the_org_is_named(local_org):
    with pytest.raises(VerifyFailed, match=r"Invoice__c.Account__c needs a Account and the org has none"):
        sample_record(local_org.salesforce(), connect.mappings()["Invoice__c"], uuid.uuid4())


def test_the_command_checks_every_read_write_mapping(database_url, local_org, engine_process):
    local_org.salesforce().Account.create({"Name": "Parent Co."})
    engine_process()
    env = {**os.environ, "DATABASE_URL": database_url, "LOCAL_ORG_URL": local_org.url, "REDIS_URL": "redis://x"}
    for var in ("SF_USERNAME", "SF_INSTANCE_URL", "SF_SESSION_ID"):
        env.pop(var, None)
    result = subprocess.run([sys.executable, "manage.py", "verify-sync", "--timeout", "30"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("Contact", "Case", "Invoice__c"):
        assert f"verify-sync passed for {name} in" in result.stdout


def test_verify_sync_names_a_stopped_connect(database_url, local_org):
    with pytest.raises(VerifyFailed, match="still waiting in the trigger log: Connect is paused, not running"):
        verify(database_url, "salesforce", timeout=1, salesforce_factory=local_org.salesforce, echo=lambda *_: None)


def test_verify_sync_names_a_read_only_mapping(database_url, local_org):
    with pytest.raises(VerifyFailed, match="read-only"):
        verify(database_url, "salesforce", object_name="Order", timeout=1, salesforce_factory=local_org.salesforce,
               echo=lambda *_: None)


def test_verify_sync_names_an_exhausted_api_limit(database_url, local_org, engine_process):
    local_org.set_api_limit(5)
    local_org.set_api_usage(5)
    with pytest.raises(VerifyFailed, match="API request limit"):
        verify(database_url, "salesforce", timeout=2, salesforce_factory=local_org.salesforce, echo=lambda *_: None)


def test_verify_sync_names_bad_credentials(database_url, local_org, monkeypatch):
    monkeypatch.setenv("LOCAL_ORG_PASSWORD", "right")
    org = config.Salesforce(local_url=local_org.url)
    with pytest.raises(VerifyFailed, match="bad Salesforce credentials"):
        verify(database_url, "salesforce", timeout=1, echo=lambda *_: None,
               salesforce_factory=lambda: salesforce.connect(org, password="wrong"))


def test_the_engine_killed_mid_batch_loses_and_doubles_nothing(conn, local_org, engine_process):
    conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) "
                 "SELECT 'Bulk ' || n, 'bulk-' || n FROM generate_series(1, 1200) AS n")
    first = engine_process()
    deadline = time.monotonic() + 60
    while conn.execute("SELECT count(*) AS n FROM salesforce.contact WHERE sfid IS NOT NULL").fetchone()["n"] == 0:
        assert time.monotonic() < deadline, "the engine never sent anything"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    left = conn.execute("SELECT count(*) AS n FROM salesforce.contact WHERE sfid IS NULL").fetchone()["n"]
    assert left > 0, "the kill came too late to interrupt anything"
    engine_process()
    while conn.execute("SELECT count(*) AS n FROM salesforce.contact WHERE sfid IS NULL").fetchone()["n"]:
        assert time.monotonic() < deadline + 60, "the restarted engine did not finish"
        time.sleep(0.1)
    records = local_org.salesforce().query_all("SELECT External_ID__c FROM Contact")["records"]
    assert len(records) == 1200 == len({r["External_ID__c"] for r in records})
    assert conn.execute("SELECT count(DISTINCT sfid) AS n FROM salesforce.contact").fetchone()["n"] == 1200


def test_make_verify_sync_uses_the_urls_the_running_make_run_recorded(tmp_path, capsys):
    record = tmp_path / "run.json"
    started = {"DATABASE_URL": "postgresql://app@/connectapp?host=/tmp/pg", "REDIS_URL": "unix:///tmp/redis.sock",
               "LOCAL_ORG_URL": "http://127.0.0.1:5200", "PORT": "5001"}
    run.record_run({**started, "SECRET_KEY": "not recorded"}, path=record)
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    env = run.exec_env({"LOCAL_ORG_URL": "http://127.0.0.1:5100", "PORT": "5000", "SECRET_KEY": "k"}, path=record)
    assert env == {**started, "SECRET_KEY": "k"}
    record.unlink()
    assert run.exec_env({"PORT": "5000"}, path=record) == {"PORT": "5000"}
    assert "make run is not running" in capsys.readouterr().err
