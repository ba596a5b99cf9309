"""core.config: a missing or malformed variable stops the process at boot with a message naming it."""

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from core import config, connect_info
from core.paths import ROOT
from web import create_app

GOOD = {
    "DATABASE_URL": "postgres://u:p@db.example.com:5432/d",
    "REDIS_URL": "rediss://:p@redis.example.com:6380",
    "SECRET_KEY": "k" * 64,
}


def load(**changes):
    """config.load() on GOOD with some variables changed (None removes one)."""
    env = {**GOOD, **changes}
    return config.load({k: v for k, v in env.items() if v is not None})


def test_a_complete_environment_loads_with_defaults():
    cfg = load()
    assert (cfg.connect_schema, cfg.app_schema, cfg.port, cfg.environment) == ("salesforce", "app", 5000, "production")


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL"])
def test_missing_url_names_the_variable(name):
    with pytest.raises(config.ConfigError, match=f"^{name} is not set"):
        load(**{name: None})


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL"])
def test_blank_url_counts_as_missing(name):
    with pytest.raises(config.ConfigError, match=f"^{name} is not set"):
        load(**{name: "  "})


@pytest.mark.parametrize("name, value, schemes", [
    ("DATABASE_URL", "mysql://u@h/d", "postgres://, postgresql://"),
    ("REDIS_URL", "http://localhost:6379", "redis://, rediss://, unix://"),
], ids=["DATABASE_URL", "REDIS_URL"])
def test_a_url_with_the_wrong_scheme_is_refused(name, value, schemes):
    with pytest.raises(config.ConfigError, match=f"^{name} must start with one of {schemes}"):
        load(**{name: value})


@pytest.mark.parametrize("scheme", ["redis://localhost:6379/0", "rediss://:p@h:6380", "unix:///tmp/redis.sock"])
def test_the_three_redis_schemes_are_accepted(scheme):
    assert load(REDIS_URL=scheme).redis_url == scheme


def test_heroku_postgres_scheme_is_accepted_as_is():
    assert load().database_url.startswith("postgres://")


def test_session_lifetime_comes_from_the_environment():
    assert load().session_lifetime_hours == 12
    assert load(SESSION_LIFETIME_HOURS="2").session_lifetime_hours == 2
    with pytest.raises(config.ConfigError, match=r"SESSION_LIFETIME_HOURS must be between 1 and 720; got 0"):
        load(SESSION_LIFETIME_HOURS="0")


def test_statement_timeout_above_the_router_limit_is_refused():
    with pytest.raises(config.ConfigError, match=r"STATEMENT_TIMEOUT_MS must be between"):
        load(STATEMENT_TIMEOUT_MS="60000")


@pytest.mark.parametrize("value", ["Sales-Force", "1schema", "salesforce; drop", "x" * 64])
def test_bad_schema_identifier_is_refused(value):
    with pytest.raises(config.ConfigError, match=r"CONNECT_SCHEMA must be a lowercase SQL identifier"):
        load(CONNECT_SCHEMA=value)


def test_app_schema_must_differ_from_connect_schema():
    with pytest.raises(config.ConfigError, match=r"APP_SCHEMA must differ from CONNECT_SCHEMA"):
        load(CONNECT_SCHEMA="shared", APP_SCHEMA="shared")


def test_unknown_app_env_is_refused():
    with pytest.raises(config.ConfigError, match=r"APP_ENV must be production, development or test"):
        load(APP_ENV="staging")


def test_read_database_url_may_name_a_follower_config_var():
    follower = "postgres://u:p@follower.example.com:5432/d"
    cfg = load(READ_DATABASE_URL="HEROKU_POSTGRESQL_COPPER_URL", HEROKU_POSTGRESQL_COPPER_URL=follower)
    assert cfg.read_database_url == follower


def test_read_database_url_naming_an_unset_var_is_refused():
    with pytest.raises(config.ConfigError, match=r"READ_DATABASE_URL names HEROKU_POSTGRESQL_COPPER_URL, which is not"):
        load(READ_DATABASE_URL="HEROKU_POSTGRESQL_COPPER_URL")


def test_read_database_url_may_be_a_url():
    assert load(READ_DATABASE_URL="postgresql://r@h/d").read_database_url == "postgresql://r@h/d"


def test_read_database_url_is_optional():
    assert load().read_database_url is None


def test_invoicing_settings_have_defaults_and_come_from_the_environment():
    assert load().invoicing == config.Invoicing(tax_rate=Decimal("0.20"), due_days=30, chunks=20)
    assert load(INVOICE_TAX_RATE="0.075", INVOICE_CHUNKS="8").invoicing.tax_rate == Decimal("0.075")


@pytest.mark.parametrize("name, value, message", [
    ("PORT", "http", "must be a whole number; got 'http'"),
    ("WEB_CONCURRENCY", "0", "must be between 1 and 64; got 0"),
    ("INVOICE_TAX_RATE", "abc", "must be a number; got 'abc'"),
    ("INVOICE_TAX_RATE", "1.5", "must be between 0 and 1; got 1.5"),
    ("INVOICE_TAX_RATE", "NaN", "must be between 0 and 1"),
    ("INVOICE_DUE_DAYS", "-1", "must be between 0 and 365; got -1"),
    ("INVOICE_CHUNKS", "0", "must be between 1 and 1000; got 0"),
])
def test_malformed_numbers_name_the_variable(name, value, message):
    with pytest.raises(config.ConfigError, match=f"^{name} {message}"):
        load(**{name: value})


def test_the_connect_plan_is_demo_unless_set():
    assert load().connect_plan == "demo"
    assert load(CONNECT_PLAN="enterprise").connect_plan == "enterprise"
    with pytest.raises(config.ConfigError, match="^CONNECT_PLAN must be demo or enterprise; got 'free'"):
        load(CONNECT_PLAN="free")


def test_ops_pages_are_off_without_credentials_and_on_with_both():
    assert not load().ops.enabled
    ops = load(OPS_USERNAME="ops", OPS_PASSWORD="a-long-password").ops
    assert ops.enabled and (ops.username, ops.password) == ("ops", "a-long-password")


@pytest.mark.parametrize("given, missing", [("OPS_USERNAME", "OPS_PASSWORD"), ("OPS_PASSWORD", "OPS_USERNAME")])
def test_one_ops_credential_without_the_other_is_refused(given, missing):
    with pytest.raises(config.ConfigError, match=f"^{given} is set but {missing} is not"):
        load(**{given: "x"})


def test_sf_username_without_sf_password_is_refused():
    with pytest.raises(config.ConfigError, match="^SF_USERNAME is set but SF_PASSWORD is not"):
        load(SF_USERNAME="integration@example.com")


def test_an_existing_salesforce_session_needs_both_its_parts():
    with pytest.raises(config.ConfigError, match="^SF_INSTANCE_URL is set but SF_SESSION_ID is not"):
        load(SF_INSTANCE_URL="https://example.my.salesforce.com")
    with pytest.raises(config.ConfigError, match="^SF_INSTANCE_URL must start with one of https://"):
        load(SF_INSTANCE_URL="http://example.my.salesforce.com", SF_SESSION_ID="00D!x")


def test_salesforce_settings_for_a_password_login():
    org = load(SF_USERNAME="integration@example.com", SF_PASSWORD="pw", SF_DOMAIN="test").salesforce
    assert (org.username, org.password, org.security_token, org.domain) == ("integration@example.com", "pw", "", "test")


@pytest.mark.parametrize("value", ["your-app.herokuapp.com", "ftp://your-app.example.com", "https://"])
def test_a_bad_app_url_is_refused(value):
    with pytest.raises(config.ConfigError, match="^APP_URL must be the app's public URL"):
        load(APP_URL=value)


def test_app_url_loses_its_trailing_slash():
    assert load(APP_URL="https://portal.example.com/").app_url == "https://portal.example.com"


def test_secrets_stay_out_of_the_repr():
    secrets = {"SECRET_KEY": "s" * 40, "OPS_USERNAME": "ops", "OPS_PASSWORD": "ops-password-123",
               "SF_USERNAME": "u@example.com", "SF_PASSWORD": "sf-password-456", "SF_SECURITY_TOKEN": "token-789",
               "DATABASE_URL": "postgres://u:db-password-0@h/d"}
    shown = repr(load(**secrets))
    assert "salesforce" in shown and "u@example.com" in shown
    for name in ("SECRET_KEY", "OPS_PASSWORD", "SF_PASSWORD", "SF_SECURITY_TOKEN", "DATABASE_URL"):
        assert secrets[name] not in shown, name


def test_every_variable_is_declared_once_with_its_field():
    names = [v.name for v in config.variables()]
    assert len(names) == len(set(names))
    assert {"DATABASE_URL", "OPS_PASSWORD", "INVOICE_TAX_RATE", "CONNECT_PLAN", "SF_USERNAME", "APP_URL",
            "LOCAL_ORG_URL"} <= set(names)
    assert {v.name for v in config.variables() if v.local_only} == {"LOCAL_ORG_URL", "CONNECT_INFO", "DEMO_LOGINS"}


def test_only_core_config_reads_the_environment():
    """What every dyno runs (standins/ and tests/ never run on Heroku) takes its settings from Config."""
    deployed = [ROOT / "manage.py", ROOT / "gunicorn.conf.py",
                *[f for d in ("core", "web", "worker", "commands") for f in (ROOT / d).rglob("*.py")]]
    readers = [str(f.relative_to(ROOT)) for f in deployed if re.search(r"os\.environ|getenv\(", f.read_text())]
    assert readers == ["core/config.py"]


def test_demo_logins_are_read_as_make_run_writes_them_and_stay_out_of_the_repr():
    users = [{"email": "a@example.com", "password": "connect-demo-1"}, {"email": "b@example.com", "password": "x:y z"}]
    cfg = load(DEMO_LOGINS=config.demo_logins_text(users))
    assert [(d.email, d.password) for d in cfg.demo_logins] == [("a@example.com", "connect-demo-1"),
                                                                ("b@example.com", "x:y z")]
    assert "connect-demo-1" not in repr(cfg) and cfg.local_only_set() == ["DEMO_LOGINS"]
    assert load().demo_logins is None


def test_malformed_demo_logins_name_the_variable():
    with pytest.raises(config.ConfigError, match="DEMO_LOGINS must be email:password pairs"):
        load(DEMO_LOGINS="a@example.com")


def test_connect_info_names_a_class_by_dotted_path():
    assert load().connect_info is None
    assert load(CONNECT_INFO="standins.connect.info.LocalConnectInfo").connect_info == (
        "standins.connect.info.LocalConnectInfo")
    with pytest.raises(config.ConfigError, match="^CONNECT_INFO must be a dotted path"):
        load(CONNECT_INFO="standins/connect/info.py")


def test_unset_connect_info_means_unknown_and_a_bad_one_is_a_config_error():
    assert isinstance(connect_info.provider(None), connect_info.UnknownOnHeroku)
    with pytest.raises(config.ConfigError, match="^CONNECT_INFO names standins.connect.nothing.Here"):
        connect_info.provider("standins.connect.nothing.Here")


def test_the_web_app_refuses_to_start_without_secret_key():
    with pytest.raises(config.ConfigError, match=r"SECRET_KEY is not set"):
        create_app({"APP": load(SECRET_KEY=None)})


def test_the_web_app_refuses_a_short_secret_key():
    with pytest.raises(config.ConfigError, match=r"SECRET_KEY is too short"):
        create_app({"APP": load(SECRET_KEY="short")})


def run_process(argv: list[str], **changes) -> subprocess.CompletedProcess:
    """Start a process as a dyno would, on GOOD with some variables changed (None removes one)."""
    env = {k: v for k, v in os.environ.items() if k not in GOOD and k not in changes}
    env.update({k: v for k, v in {**GOOD, **changes}.items() if v is not None})
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_manage_py_reports_a_bad_environment_in_one_line_and_exits_2():
    result = run_process([sys.executable, "manage.py", "migrate"], DATABASE_URL=None)
    assert result.returncode == 2
    assert result.stderr == "configuration error: DATABASE_URL is not set.\n"
    assert result.stdout == ""


def test_the_worker_reports_a_bad_environment_in_one_line_and_exits_2():
    result = run_process([sys.executable, "-m", "worker"], INVOICE_TAX_RATE="twenty percent")
    assert result.returncode == 2
    assert result.stderr == "configuration error: INVOICE_TAX_RATE must be a number; got 'twenty percent'.\n"


def test_the_web_dyno_stops_at_boot_in_one_line_and_exits_2():
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    result = run_process([gunicorn, "--config", "gunicorn.conf.py", "web:create_app()"], PORT="http")
    assert result.returncode == 2
    assert result.stderr == "configuration error: PORT must be a whole number; got 'http'.\n"


def test_the_web_dyno_needs_a_secret_key_at_boot():
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    result = run_process([gunicorn, "--config", "gunicorn.conf.py", "web:create_app()"], SECRET_KEY=None)
    assert result.returncode == 2 and result.stderr.startswith("configuration error: SECRET_KEY is not set.")
    assert len(result.stderr.splitlines()) == 1
