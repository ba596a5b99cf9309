"""Portal logins: invitations, passwords, tokens stored hashed, the ops commands, demo users."""

import re
import subprocess
import sys

from click.testing import CliRunner

import manage
from core import logins, passwords
from core.paths import ROOT
from standins import demo_data
from tests import portal_rows
from tests.portal_rows import EMAIL_A


def test_invite_command_prints_a_working_invitation_link(conn, env, client, portal_world):
    result = CliRunner().invoke(manage.cli, ["invite", EMAIL_A, "--base-url", "https://portal.example"])
    assert result.exit_code == 0, result.output
    link = re.search(r"https://portal\.example(/invitation/\S+)", result.output)
    assert link
    assert "Choose a password" in client.get(link[1]).get_data(as_text=True)


def test_invite_by_salesforce_id_works_too(conn, env, portal_world):
    result = CliRunner().invoke(manage.cli, ["invite", portal_rows.CONTACT_B])
    assert result.exit_code == 0 and portal_rows.EMAIL_B in result.output


def test_invite_of_an_unknown_contact_is_a_clear_error(conn, env):
    result = CliRunner().invoke(manage.cli, ["invite", "nobody@example.com"])
    assert result.exit_code == 1
    assert "No contact" in result.output


def test_tokens_and_passwords_are_stored_hashed(conn, portal_world):
    user, token = logins.invite(conn, "salesforce", "app", EMAIL_A)
    stored = conn.execute("SELECT token_hash FROM app.portal_tokens").fetchone()["token_hash"]
    assert bytes(stored) == passwords.token_hash(token) and token.encode() not in bytes(stored)
    logins.set_password_with_token(conn, "app", token, "invitation", "a long new password")
    row = conn.execute("SELECT password_hash FROM app.portal_users").fetchone()
    assert row["password_hash"].startswith("$argon2id$")


def test_invitation_token_works_once(conn, portal_world):
    _, token = logins.invite(conn, "salesforce", "app", EMAIL_A)
    assert logins.set_password_with_token(conn, "app", token, "invitation", "first password!") is not None
    assert logins.set_password_with_token(conn, "app", token, "invitation", "second password") is None


def test_expired_invitation_is_refused(conn, portal_world):
    _, token = logins.invite(conn, "salesforce", "app", EMAIL_A)
    conn.execute("UPDATE app.portal_tokens SET expires_at = now() - interval '1 second'")
    assert logins.set_password_with_token(conn, "app", token, "invitation", "a long new password") is None


def test_inviting_again_replaces_the_earlier_invitation(conn, portal_world):
    _, first = logins.invite(conn, "salesforce", "app", EMAIL_A)
    _, second = logins.invite(conn, "salesforce", "app", EMAIL_A)
    assert logins.token_user(conn, "app", first, "invitation") is None
    assert logins.token_user(conn, "app", second, "invitation") is not None


def test_authenticate_needs_the_right_password(conn, portal_world):
    portal_rows.make_user(conn)
    assert logins.authenticate(conn, "salesforce", "app", EMAIL_A.upper(), portal_rows.PASSWORD)["account_sfid"] == (
        portal_rows.ACCOUNT_A
    )
    assert logins.authenticate(conn, "salesforce", "app", EMAIL_A, "wrong password") is None
    assert logins.authenticate(conn, "salesforce", "app", "nobody@example.com", "whatever") is None


def test_demo_users_start_with_the_biggest_account(conn, env):
    demo_data.load(conn, accounts=20, orders=400)
    result = CliRunner().invoke(manage.cli, ["create-demo-users"])
    assert result.exit_code == 0, result.output
    first = re.search(r"(\S+@example\.com) / (\S+)", result.output)
    user = logins.authenticate(conn, "salesforce", "app", first[1], first[2])
    big = conn.execute(
        'SELECT a.sfid FROM salesforce.account a ORDER BY a.accountnumber LIMIT 1'
    ).fetchone()["sfid"]
    assert user["account_sfid"] == big
    assert result.output.count("@example.com") == 3


def test_demo_users_are_refused_in_production(conn, env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    result = CliRunner().invoke(manage.cli, ["create-demo-users"])
    assert result.exit_code == 1 and "not in production" in result.output


def test_api_token_command_prints_a_token_that_authenticates(conn, env, client, portal_world):
    portal_rows.make_user(conn)
    result = CliRunner().invoke(manage.cli, ["api-token", EMAIL_A])
    assert result.exit_code == 0
    response = client.get("/api/v1/profile", headers={"Authorization": f"Bearer {result.output.strip()}"})
    assert response.status_code == 200 and response.get_json()["email"] == EMAIL_A


def test_deployed_processes_hash_with_argon2_cffis_defaults():
    """The suite hashes cheaply (tests/conftest.py); the app itself keeps RFC 9106's parameters."""
    code = "from core import passwords; print(passwords.hash_password('a long new password'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
