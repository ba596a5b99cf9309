"""`verify-sync` (setup step 5) against the local stack, and the causes it names when the sync is broken."""

import os
import signal
import subprocess
import sys
import time

import pytest

from core import config, salesforce
from core.paths import ROOT
from core.verify_sync import VerifyFailed, verify

pytestmark = pytest.mark.slow


@pytest.fixture
def engine_process(database_url, local_org, conn):
    """A real `python -m standins.connect` against the test database and the local org."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOCAL_ORG_URL": local_org.url, "REDIS_URL": "redis://x",
           "LOCAL_CONNECT_PUSH_SECONDS": "0.2", "LOCAL_CONNECT_PULL_SECONDS": "0.3"}
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


def test_verify_sync_passes_against_the_local_stack(database_url, local_org, engine_process):
    engine_process()
    lines = []
    steps = verify(database_url, "salesforce", timeout=30, salesforce_factory=local_org.salesforce,
                   echo=lines.append)
    assert len(steps) == 7 and all(" ok " in line for line in lines)
    assert local_org.salesforce().query("SELECT Id FROM Contact")["totalSize"] == 0  # cleaned up


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
