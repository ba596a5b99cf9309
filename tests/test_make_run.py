"""`make run` out of the box: operator credentials written once into .env, a banner saying where everything is."""

import re
import stat

import pytest

from core.paths import ROOT
from standins import demo_data, run


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
    for text in ("http://localhost:5000/login", "http://localhost:5000/ops/sync", "http://localhost:5000/ops/invoicing",
                 "login ops / s3cret", "http://127.0.0.1:5100", "docs/README.md",
                 "a@example.com / pw   (ACC-00000001: 5 orders)"):
        assert text in shown


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
