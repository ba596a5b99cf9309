"""`make run` out of the box: operator credentials written once into .env, a banner saying where everything is,
and a terminal that tells the story: the banner once all is up, one line per sync hop, no noise."""

import os
import re
import signal
import stat
import subprocess
import sys

import pytest
import requests

from core import db, queue
from core.paths import ROOT
from standins import demo_data, run, services
from tests import processes


def test_the_first_start_writes_a_secret_key_and_an_operator_login_readable_by_you_only(tmp_path):
    path = tmp_path / ".env"
    values = run.read_env_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert values["OPS_USERNAME"] == "ops" and len(values["OPS_PASSWORD"]) >= 20 and len(values["SECRET_KEY"]) == 64


def test_a_second_start_keeps_every_value(tmp_path):
    path = tmp_path / ".env"
    first = run.read_env_file(path)
    assert run.read_env_file(path) == first


def test_values_already_in_env_are_never_overwritten(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=" + "k" * 64 + "\nOPS_USERNAME=me\nOPS_PASSWORD=my-own-password\n")
    values = run.read_env_file(path)
    assert (values["OPS_USERNAME"], values["OPS_PASSWORD"], values["SECRET_KEY"]) == ("me", "my-own-password", "k" * 64)


def test_an_older_env_without_an_operator_login_gets_one_appended(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=" + "k" * 64 + "\nPORT=5001")
    values = run.read_env_file(path)
    assert values["PORT"] == "5001" and values["SECRET_KEY"] == "k" * 64 and values["OPS_USERNAME"] == "ops"


def test_the_banner_shows_every_url_and_the_operator_login():
    env = {"PORT": "5000", "LOCAL_ORG_URL": "http://127.0.0.1:5100", "OPS_USERNAME": "ops", "OPS_PASSWORD": "s3cret"}
    shown = run.banner(env, ["Demo logins (email / password):", "  a@example.com / pw   (ACC-00000001: 5 orders)"])
    for text in ("http://localhost:5000/login", "http://localhost:5000/learn", "http://localhost:5000/ops/sync",
                 "http://localhost:5000/ops/invoicing", "login ops / s3cret", "http://127.0.0.1:5100",
                 "http://localhost:5000/api/docs", "docs/README.md", "a@example.com / pw   (ACC-00000001: 5 orders)",
                 "Ctrl-C stops everything"):
        assert text in shown
    assert "Not answering yet" not in shown


def test_the_banner_names_what_did_not_answer_in_time():
    env = {"PORT": "5000", "LOCAL_ORG_URL": "http://127.0.0.1:5100"}
    assert "Not answering yet: worker" in run.banner(env, [], ["worker"])


def test_a_first_start_sums_up_the_schemas_in_two_lines(app_config):
    changes = ["created table salesforce.account", "created index hcu_idx_account_sfid",
               "created index hc_idx_account_systemmodstamp", "added column salesforce.account.rating"]
    assert run.schema_lines(app_config, changes, ["0001_app_schema", "0100_portal"]) == [
        "Connect schema salesforce: created 1 tables and 2 indexes, as Heroku Connect creates them",
        "added column salesforce.account.rating",
        "app schema app: applied 2 migrations (0001_app_schema … 0100_portal)",
    ]
    assert run.schema_lines(app_config, [], []) == []


@pytest.fixture
def default_scale(conn):
    """The demo data exactly as `make run` loads it (its default scale and seed)."""
    demo_data.load(conn, schema="salesforce", app_schema="app", log=lambda *_: None, **run.DEFAULT_SCALE)


def test_the_readmes_demo_logins_are_what_make_run_prints(conn, env, default_scale):
    printed = "\n".join(run.login_lines(conn, env))
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## Demo users"):readme.index("Log in at http://localhost:5000/login")]
    listed = re.findall(r"^ {4}(\S+ / \S+)\s+\((ACC-\d{8}): ([\d,]+) orders", block, re.MULTILINE)
    assert len(listed) == 3
    for login, account, orders in listed:
        assert re.search(re.escape(login) + r"\s+\(" + account + ": " + orders + " orders", printed), printed


# ---- the terminal, from a real `make run` ---------------------------------------------------------

OPS_PASSWORD = "terminal-test-password"


@pytest.fixture
def make_run(database_url, redis_url, tmp_path):
    """`python -m standins.run` as `make run` starts it, on a database of its own; (process, output file, env)."""
    server_url = services.database_url(database_url, "postgres")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LOCAL_ORG_URL", "APP_ENV")}
    env.update(
        DATABASE_URL=services.ensure_database(server_url, "connectapp_make_run", fresh=True),
        REDIS_URL=redis_url,
        PORT=str(services.free_port()),
        LOCAL_ORG_PORT=str(services.free_port()),
        OPS_USERNAME="ops",
        OPS_PASSWORD=OPS_PASSWORD,
        WEB_CONCURRENCY="1",
        MAKE_RUN_FILE=str(tmp_path / "run.json"),
    )
    output = tmp_path / "terminal.txt"
    process = subprocess.Popen([sys.executable, "-m", "standins.run"], cwd=ROOT, env=env,
                               stdout=output.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process, output, env
    finally:
        processes.stop(process)
        queue.connect(redis_url).flushdb()  # the run scheduled the sync sampler there


def _printed(output) -> str:
    return output.read_text(errors="replace")


def _wait_for_line(output, text: str, timeout: float = 120):
    processes.wait_for(lambda: text in _printed(output), timeout, f"make run to print {text!r}")


def _banner(printed: str) -> list[str]:
    """The lines between the banner's two rules."""
    lines = printed.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("  ───")]
    assert len(rules) == 2, printed
    return lines[rules[0] + 1:rules[1]]


@pytest.mark.slow
def test_make_run_prints_one_banner_when_all_answers_then_one_line_per_hop_and_no_noise(make_run):
    process, output, env = make_run
    port, org_url = env["PORT"], f"http://127.0.0.1:{env['LOCAL_ORG_PORT']}"
    _wait_for_line(output, "Ctrl-C stops everything", timeout=300)

    web = requests.Session()
    web.trust_env = False
    assert web.get(f"http://127.0.0.1:{port}/static/app.css").status_code == 200
    assert web.get(f"http://127.0.0.1:{port}/login").status_code == 200
    with db.connect(env["DATABASE_URL"]) as conn:  # a case filed as the portal files it
        conn.execute("INSERT INTO salesforce.case (subject, origin, external_id__c) "
                     "VALUES ('Terminal test', 'Web', 'terminal-test-1')")
    _wait_for_line(output, "Case “Terminal test” → Salesforce: inserted 500")
    _wait_for_line(output, "← Salesforce: updated (poll, 1 row")  # the case back, with its number
    _wait_for_line(output, 'path="/login" status=200')
    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(60) == 0
    printed = _printed(output)

    banner = _banner(printed)
    assert printed.count("Portal (customers)") == 1
    assert not [line for line in banner if " | " in line], "another process's line inside the banner"
    shown = "\n".join(banner)
    for text in (f"http://localhost:{port}/login", f"http://localhost:{port}/learn", f"http://localhost:{port}/ops/sync",
                 f"login ops / {OPS_PASSWORD}", org_url, f"http://localhost:{port}/api/docs", "Demo logins",
                 "Ctrl-C stops everything"):
        assert text in shown
    # Printed once the web port, the org and the worker answer and the local Connect has cycled once.
    assert printed.index("web app ready") < printed.index("Portal (customers)")
    assert printed.index(f"local org: {org_url}") < printed.index("Portal (customers)")
    assert printed.index("connection_state state=IDLE") < printed.index("Portal (customers)")

    lines = printed.splitlines()
    access = [line for line in lines if " web " in line and "method=" in line]
    assert access and not [line for line in access if 'path="/static/' in line or 'path="/healthz"' in line]
    assert re.search(r'path="/login" status=200 .*request_id=[0-9a-f-]{36}', printed)
    connect_lines = [line for line in lines if " connect " in line]
    assert not [line for line in connect_lines if "unreachable" in line or "cannot log in" in line], connect_lines
    assert not [line for line in connect_lines if "POLLING_DB_CHANGES" in line]
    case_out = [line for line in connect_lines if "Case “Terminal test” → Salesforce" in line]
    assert len(case_out) == 1 and re.search(r"inserted 500\w{15} \(1 row, ", case_out[0])
    assert re.search(r"Case \d{8} ← Salesforce: updated \(poll, 1 row, ", printed)
    assert f"Listening at: [::]:{port}" in printed
    assert not re.search(r"Listening at: +\(", printed) and "Control socket" not in printed
    assert "[INFO]" not in printed  # gunicorn's own timestamped format, a second prefix after honcho's
    assert "local Connect stopped" in printed
