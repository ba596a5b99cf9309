"""app.json: what the Heroku Button, review apps and Heroku CI read when they create an app from this repo.

Heroku publishes no JSON Schema for app.json, and a mistake here shows up only when somebody
presses the button; these tests hold the file to the documented keys and plan slugs.
"""

import json
import re
import runpy

import pytest

import manage
from core import config
from core.paths import ROOT

APP_JSON = json.loads((ROOT / "app.json").read_text())

DOCUMENTED_KEYS = {
    "name", "description", "keywords", "website", "repository", "logo", "success_url",
    "scripts", "env", "formation", "addons", "buildpacks", "environments", "stack",
}
DOCUMENTED_PLANS = {
    "heroku-postgresql:essential-0",
    "heroku-redis:mini",
    "herokuconnect:demo",
    "scheduler:standard",
    "heroku-postgresql:in-dyno",
    "heroku-redis:in-dyno",
}
# Set by add-ons (DATABASE_URL, REDIS_URL) or by the platform and the Python buildpack (HEROKU_APP_NAME:
# dyno metadata, on review apps or after `heroku labs:enable runtime-dyno-metadata`).
PROVIDED_BY_HEROKU = {"DATABASE_URL", "REDIS_URL", "PORT", "WEB_CONCURRENCY", "HEROKU_APP_NAME"}
# Every variable the processes read: core/config.py is the only module that reads the environment,
# and each of its fields names its variable.
VARIABLES = {v.name for v in config.variables()}
LOCAL_ONLY = {v.name for v in config.variables() if v.local_only}


def _addon_plans(addons):
    return [a if isinstance(a, str) else a["plan"] for a in addons]


def test_only_documented_top_level_keys():
    assert set(APP_JSON) <= DOCUMENTED_KEYS


def test_name_fits_the_30_character_limit():
    assert 0 < len(APP_JSON["name"]) <= 30


def test_success_url_is_a_path_or_url():
    assert APP_JSON["success_url"].startswith(("/", "https://"))


def test_stack_and_buildpack():
    assert APP_JSON["stack"] == "heroku-24"
    assert APP_JSON["buildpacks"] == [{"url": "heroku/python"}]


@pytest.mark.parametrize("plan", _addon_plans(APP_JSON["addons"]))
def test_addon_plans_are_documented_slugs(plan):
    assert plan in DOCUMENTED_PLANS


def test_addons_give_postgres_redis_connect_and_scheduler():
    services = {p.split(":")[0] for p in _addon_plans(APP_JSON["addons"])}
    assert services == {"heroku-postgresql", "heroku-redis", "herokuconnect", "scheduler"}


@pytest.mark.parametrize("plan", _addon_plans(APP_JSON["environments"]["test"]["addons"]))
def test_ci_addon_plans_are_documented_in_dyno_slugs(plan):
    assert plan in DOCUMENTED_PLANS and plan.endswith(":in-dyno")


def test_env_entries_use_documented_fields_with_string_values():
    for name, spec in APP_JSON["env"].items():
        assert set(spec) <= {"description", "value", "required", "generator"}, name
        assert spec.get("description"), f"{name} needs a description for the Button's form"
        assert isinstance(spec.get("value", ""), str), f"{name}: app.json values are strings"
        assert spec.get("generator", "secret") == "secret", name


def test_secrets_are_generated_never_checked_in():
    assert APP_JSON["env"]["SECRET_KEY"]["generator"] == "secret"
    assert "value" not in APP_JSON["env"]["SECRET_KEY"]
    assert APP_JSON["env"]["OPS_PASSWORD"]["generator"] == "secret"
    assert "value" not in APP_JSON["env"]["OPS_PASSWORD"]


def test_production_defaults():
    env = APP_JSON["env"]
    assert env["OPS_USERNAME"]["value"] == "ops"
    assert env["CONNECT_SCHEMA"]["value"] == "salesforce"
    assert env["APP_ENV"]["value"] == "production"


def test_every_env_var_the_code_reads_is_declared_or_provided():
    missing = VARIABLES - set(APP_JSON["env"]) - PROVIDED_BY_HEROKU
    assert not missing, f"add these to app.json's env (or say which add-on sets them): {sorted(missing)}"


def test_app_json_declares_only_variables_the_code_reads():
    unknown = set(APP_JSON["env"]) - VARIABLES
    assert not unknown, f"app.json declares variables no Config field reads: {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(LOCAL_ONLY))
def test_local_only_variables_stay_unset_on_heroku(name):
    spec = APP_JSON["env"][name]
    assert spec.get("required") is False and "value" not in spec
    assert spec["description"].startswith("Local development only"), name


def test_env_example_lists_every_env_var_the_code_reads():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = VARIABLES - listed
    assert not missing, f"describe these in .env.example: {sorted(missing)}"


def test_formation_matches_the_procfile_process_types():
    procfile = (ROOT / "Procfile").read_text().splitlines()
    process_types = {line.split(":", 1)[0] for line in procfile if line.strip() and not line.startswith("#")}
    # release runs once per deploy, never as a scaled dyno.
    assert set(APP_JSON["formation"]) == process_types - {"release"} == {"web", "worker"}
    for spec in APP_JSON["formation"].values():
        assert spec == {"quantity": 1, "size": "basic"}


def test_default_formation_fits_essential_0_connections():
    """docs/architecture.md's arithmetic: the defaults leave room for release, Scheduler, psql and Connect."""
    essential_0_limit = 20
    web_concurrency_on_basic = 2  # what the Python buildpack sets on a 512 MB dyno
    pool = int(APP_JSON["env"]["DB_POOL_SIZE"]["value"])
    formation = APP_JSON["formation"]
    used = formation["web"]["quantity"] * web_concurrency_on_basic * pool + formation["worker"]["quantity"] * pool
    assert used <= essential_0_limit - 5


def test_pool_size_matches_gunicorn_threads_so_no_thread_waits_for_a_connection(monkeypatch):
    # gunicorn.conf.py loads the configuration at boot, as on a web dyno.
    dyno = {"DATABASE_URL": "postgres://u@h/d", "REDIS_URL": "redis://h", "SECRET_KEY": "k" * 64,
            "APP_URL": "https://app.example.com"}
    for name, value in dyno.items():
        monkeypatch.setenv(name, value)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert int(APP_JSON["env"]["DB_POOL_SIZE"]["value"]) == settings["threads"]


def test_postdeploy_is_a_manage_py_command():
    command = APP_JSON["scripts"]["postdeploy"].split()
    assert command[:2] == ["python", "manage.py"]
    assert command[2] in manage.cli.commands


def test_ci_runs_the_suite_against_the_in_dyno_servers():
    scripts = APP_JSON["environments"]["test"]["scripts"]
    assert "requirements-dev.txt" in scripts["test-setup"]
    assert "TEST_DATABASE_URL=$DATABASE_URL" in scripts["test"]
    assert "TEST_REDIS_URL=$REDIS_URL" in scripts["test"]
    assert "pytest" in scripts["test"]
