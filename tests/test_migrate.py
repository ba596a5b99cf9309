"""The app's own schema: ordered plain-SQL migrations, each applied once, by the release phase."""

import os
import subprocess
import sys

import pytest
from psycopg import sql

from core import migrate as migrations
from core.paths import ROOT


@pytest.fixture
def app_schema(conn):
    """A throwaway app schema, so these tests migrate from nothing (dropped afterwards)."""
    yield "app_migrate_test"
    conn.execute("DROP SCHEMA IF EXISTS app_migrate_test CASCADE")


def recorded(conn, schema):
    """Versions in the schema's migration record."""
    rows = conn.execute(sql.SQL("SELECT version FROM {}.schema_migrations ORDER BY version").format(
        sql.Identifier(schema)))
    return [r["version"] for r in rows]


def quiet(*_):
    """Swallow migrate's progress lines."""


def test_every_migration_runs_once_in_order_and_is_recorded(conn, app_schema):
    expected = sorted(p.stem for p in migrations.MIGRATIONS_DIR.glob("*.sql"))
    assert migrations.migrate(conn, app_schema, "salesforce", log=quiet) == expected
    assert recorded(conn, app_schema) == expected


def test_migrating_again_applies_nothing(conn, app_schema):
    migrations.migrate(conn, app_schema, "salesforce", log=quiet)
    assert migrations.migrate(conn, app_schema, "salesforce", log=quiet) == []
    assert migrations.pending(conn, app_schema) == []


def test_migration_files_are_numbered_in_order():
    names = [p.name for p in sorted(migrations.MIGRATIONS_DIR.glob("*.sql"))]
    assert names and all(n[:4].isdigit() and n[4] == "_" for n in names)
    assert len({n[:4] for n in names}) == len(names), "two migrations share a number"


def test_placeholders_become_the_configured_schemas(conn, app_schema, tmp_path, monkeypatch):
    (tmp_path / "0001_probe.sql").write_text(
        "CREATE TABLE {app_schema}.probe AS SELECT count(*) AS contacts FROM {connect_schema}.contact;"
    )
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", tmp_path)
    migrations.migrate(conn, app_schema, "salesforce", log=quiet)
    assert conn.execute("SELECT contacts FROM app_migrate_test.probe").fetchone() == {"contacts": 0}


def test_a_failing_migration_applies_nothing_and_records_nothing(conn, app_schema, tmp_path, monkeypatch):
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE {app_schema}.good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE {app_schema}.bad (id no_such_type);")
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(Exception, match="no_such_type"):
        migrations.migrate(conn, app_schema, "salesforce", log=quiet)
    # One transaction: the release fails, and the next release starts from the same place.
    assert conn.execute("SELECT to_regclass('app_migrate_test.good') AS t").fetchone() == {"t": None}


def _manage(*args, env):
    """Run `python manage.py ...` as the release phase would: a fresh process reading the environment."""
    environment = {**os.environ, "DATABASE_URL": env.database_url, "REDIS_URL": env.redis_url}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_release_command_migrates_and_exits_0(app_config):
    result = _manage("release", env=app_config)
    assert result.returncode == 0, result.stderr
    assert "schema app is up to date" in result.stdout


def test_postdeploy_migrates_and_prints_the_steps_left(app_config):
    result = _manage("postdeploy", env=app_config)
    assert result.returncode == 0, result.stderr
    assert "heroku connect:sf:auth" in result.stdout
    assert "heroku connect:import sql/connect/mapping.json" in result.stdout
    assert "scheduler" in result.stdout
