"""`python manage.py postdeploy` prints the steps from the button to a working demo, with the app's name filled in."""

import subprocess
import sys

from core import deploy
from core.paths import ROOT


def postdeploy(app_config, **extra) -> str:
    """Run postdeploy as app.json's script does: a fresh process reading the dyno's environment."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": app_config.database_url, "REDIS_URL": app_config.redis_url,
           **extra}
    result = subprocess.run([sys.executable, "manage.py", "postdeploy"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_postdeploy_fills_in_the_apps_name_from_dyno_metadata(app_config):
    out = postdeploy(app_config, HEROKU_APP_NAME="acme-connect-demo")
    assert "heroku connect:import sql/connect/mapping.json --app acme-connect-demo" in out
    assert "heroku run python manage.py doctor --app acme-connect-demo" in out
    assert deploy.APP_PLACEHOLDER not in out


def test_postdeploy_without_dyno_metadata_prints_a_placeholder(app_config):
    out = postdeploy(app_config)
    assert f"heroku connect:sf:auth --app {deploy.APP_PLACEHOLDER}" in out


def test_postdeploy_prints_the_steps_in_order(app_config):
    out = postdeploy(app_config, HEROKU_APP_NAME="demo")
    in_order = ["heroku.com/deploy?template=https://github.com/", "APP_URL=",
                "heroku plugins:install @heroku-cli/heroku-connect-plugin", "manage.py org setup",
                "manage.py connect validate", "heroku connect:import", "manage.py org seed", "manage.py invite",
                "heroku addons:open scheduler", "manage.py verify-sync", "manage.py doctor"]
    positions = [out.index(text) for text in in_order]
    assert positions == sorted(positions)


def test_postdeploy_lists_every_scheduler_job(app_config):
    out = postdeploy(app_config)
    for job in deploy.SCHEDULER_JOBS:
        assert f"[ ] {job.command}" in out


def test_the_architecture_page_lists_the_same_scheduler_jobs():
    page = (ROOT / "docs" / "architecture.md").read_text()
    for job in deploy.SCHEDULER_JOBS:
        assert f"`{job.command}`" in page
