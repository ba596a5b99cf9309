"""`python -m standins.provision`: building the Connect schema by hand, as docs/local-development.md shows."""

import os
import subprocess
import sys

from core.paths import ROOT


def test_provision_command_builds_the_configured_schema_and_is_repeatable(conn, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "CONNECT_SCHEMA": "connect_by_hand"}
    env.pop("REDIS_URL", None)
    try:
        first = subprocess.run([sys.executable, "-m", "standins.provision"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert "created table connect_by_hand.contact" in first.stdout
        again = subprocess.run([sys.executable, "-m", "standins.provision"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.stdout.strip() == "0 change(s); schema connect_by_hand matches the mapping file."
    finally:
        conn.execute("DROP SCHEMA IF EXISTS connect_by_hand CASCADE")


def test_provision_command_without_a_database_says_so():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "standins.provision"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: DATABASE_URL is not set."
