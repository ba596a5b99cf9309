"""Portal logins in the app's schema: users tied to a Contact, invitations, resets, API tokens.

A portal user is a Contact that Connect syncs. The user row points at the Contact by its
Salesforce Id, or by its External_ID__c while the Contact exists only in Postgres. The account a
user sees is always read from the Contact at login, so a Contact moved to another account in
Salesforce takes its login with it on the next sync.
"""

import functools
from datetime import timedelta

from psycopg import sql

from core import passwords

INVITATION_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)


class LoginError(ValueError):
    """An ops command was asked for something that cannot be done (unknown or ambiguous contact)."""


def _q(text: str, schema: str, app_schema: str) -> sql.Composed:
    """Compose SQL naming the Connect schema ({s}) and the app schema ({app})."""
    return sql.SQL(text).format(s=sql.Identifier(schema), app=sql.Identifier(app_schema))


@functools.cache
def _a(text: str, app_schema: str) -> sql.Composed:
    """Compose SQL naming the app schema ({app}): once per statement and schema (every request checks a session)."""
    return sql.SQL(text).format(app=sql.Identifier(app_schema))


# A Contact by Salesforce Id, External_ID__c or email (case-insensitive); it must belong to an account.
FIND_CONTACT = """
SELECT sfid, external_id__c, accountid, lower(email) AS email, firstname, lastname
FROM {s}.contact
WHERE (sfid = %(key)s OR external_id__c = %(key)s OR lower(email) = lower(%(key)s))
  AND accountid IS NOT NULL AND NOT coalesce(isdeleted, false)
LIMIT 2
"""

# One login per contact: inviting again refreshes the email and keeps the password.
UPSERT_USER = """
INSERT INTO {app}.portal_users AS u (email, contact_sfid, contact_external_id)
VALUES (%(email)s, %(sfid)s, %(external_id)s)
ON CONFLICT (email) DO UPDATE
    SET contact_sfid = EXCLUDED.contact_sfid, contact_external_id = EXCLUDED.contact_external_id
RETURNING id, email, password_hash IS NOT NULL AS active
"""

# A new token replaces the user's earlier unused ones of the same purpose.
DROP_TOKENS = """
DELETE FROM {app}.portal_tokens WHERE user_id = %(user_id)s AND purpose = %(purpose)s AND used_at IS NULL
"""
INSERT_TOKEN = """
INSERT INTO {app}.portal_tokens (user_id, purpose, token_hash, name, expires_at)
VALUES (%(user_id)s, %(purpose)s, %(hash)s, %(name)s, now() + %(ttl)s)
RETURNING id
"""

# Spends a one-time token: only an unused, unexpired one matches, and only once (the UPDATE locks it).
USE_TOKEN = """
UPDATE {app}.portal_tokens SET used_at = now()
WHERE token_hash = %(hash)s AND purpose = %(purpose)s AND used_at IS NULL AND expires_at > now()
RETURNING user_id
"""
PEEK_TOKEN = """
SELECT u.id, u.email FROM {app}.portal_tokens t JOIN {app}.portal_users u ON u.id = t.user_id
WHERE t.token_hash = %(hash)s AND t.purpose = %(purpose)s AND t.used_at IS NULL AND t.expires_at > now()
"""
# A password set by email also ends every session the login had (a cookie copied before is refused).
SET_PASSWORD = """
UPDATE {app}.portal_users SET password_hash = %(hash)s, session_version = session_version + 1
WHERE id = %(user_id)s
"""

# The user with the Contact's current account. The join follows the Contact by sfid, or by its
# external id while Connect has not inserted it yet.
USER_WITH_CONTACT = """
SELECT u.id, u.email, u.password_hash, u.session_version, c.sfid AS contact_sfid,
       c.external_id__c AS contact_external_id, c.accountid AS account_sfid
FROM {app}.portal_users u
JOIN {s}.contact c
  ON c.sfid = u.contact_sfid OR (u.contact_sfid IS NULL AND c.external_id__c = u.contact_external_id)
WHERE {where} AND c.accountid IS NOT NULL AND NOT coalesce(c.isdeleted, false)
"""
TOUCH_LOGIN = """
UPDATE {app}.portal_users SET last_login_at = now(), contact_sfid = coalesce(contact_sfid, %(contact_sfid)s),
       password_hash = coalesce(%(rehash)s, password_hash)
WHERE id = %(user_id)s
"""
API_TOKEN_USER = """
UPDATE {app}.portal_tokens SET last_used_at = now()
WHERE token_hash = %(hash)s AND purpose = 'api'
RETURNING user_id
"""
LIST_API_TOKENS = """
SELECT id, name, created_at, last_used_at FROM {app}.portal_tokens
WHERE user_id = %(user_id)s AND purpose = 'api' ORDER BY id
"""
# Sessions that end on the server: a session cookie carries the version it was issued with.
SESSION_VERSION = "SELECT session_version FROM {app}.portal_users WHERE id = %(user_id)s"
END_SESSIONS = "UPDATE {app}.portal_users SET session_version = session_version + 1 WHERE id = %(user_id)s"
REVOKE_API_TOKEN = "DELETE FROM {app}.portal_tokens WHERE id = %(id)s AND user_id = %(user_id)s AND purpose = 'api'"


def find_contact(conn, schema: str, key: str) -> dict:
    """The one Contact with this sfid, external id or email; LoginError if none or several."""
    rows = conn.execute(_q(FIND_CONTACT, schema, "app"), {"key": key.strip()}).fetchall()
    if not rows:
        raise LoginError(f"No contact with Id, external id or email {key!r} (and an account).")
    if len(rows) > 1:
        raise LoginError(f"Several contacts match {key!r}: invite by Salesforce Id instead.")
    if not rows[0]["email"]:
        raise LoginError(f"Contact {key!r} has no email address: it is the login name.")
    return rows[0]


def invite(conn, schema: str, app_schema: str, key: str) -> tuple[dict, str]:
    """Create (or refresh) the login for a Contact and issue an invitation token; return (user, token)."""
    contact = find_contact(conn, schema, key)
    token = passwords.new_token()
    with conn.transaction():
        user = conn.execute(
            _q(UPSERT_USER, schema, app_schema),
            {"email": contact["email"], "sfid": contact["sfid"], "external_id": contact["external_id__c"]},
        ).fetchone()
        issue(conn, app_schema, user["id"], "invitation", token, INVITATION_TTL)
    return user, token


def issue(conn, app_schema: str, user_id: int, purpose: str, token: str, ttl: timedelta | None, name=None) -> int:
    """Store a token's hash for `user_id` (replacing unused ones of the same purpose except API tokens)."""
    params = {"user_id": user_id, "purpose": purpose, "hash": passwords.token_hash(token), "name": name, "ttl": ttl}
    if purpose != "api":
        conn.execute(_a(DROP_TOKENS, app_schema), params)
    return conn.execute(_a(INSERT_TOKEN, app_schema), params).fetchone()["id"]


def token_user(conn, app_schema: str, token: str, purpose: str) -> dict | None:
    """The user a valid, unused one-time token belongs to (without spending it)."""
    return conn.execute(
        _a(PEEK_TOKEN, app_schema), {"hash": passwords.token_hash(token), "purpose": purpose}
    ).fetchone()


def set_password_with_token(conn, app_schema: str, token: str, purpose: str, password: str) -> int | None:
    """Spend an invitation or reset token and set the password; the user id, or None if the token is bad."""
    with conn.transaction():
        row = conn.execute(
            _a(USE_TOKEN, app_schema), {"hash": passwords.token_hash(token), "purpose": purpose}
        ).fetchone()
        if row is None:
            return None
        conn.execute(
            _a(SET_PASSWORD, app_schema),
            {"hash": passwords.hash_password(password), "user_id": row["user_id"]},
        )
        # A password set by email ends every other pending reset or invitation.
        conn.execute(_a(DROP_TOKENS, app_schema), {"user_id": row["user_id"], "purpose": "reset"})
        conn.execute(_a(DROP_TOKENS, app_schema), {"user_id": row["user_id"], "purpose": "invitation"})
    return row["user_id"]


def user_by(conn, schema: str, app_schema: str, *, email: str | None = None, user_id: int | None = None):
    """A user with its Contact's current sfid and account, by email or id; None if unknown or unlinked."""
    where = sql.SQL("u.email = %(email)s") if email is not None else sql.SQL("u.id = %(user_id)s")
    query = sql.SQL(USER_WITH_CONTACT).format(s=sql.Identifier(schema), app=sql.Identifier(app_schema), where=where)
    return conn.execute(query, {"email": (email or "").strip().lower(), "user_id": user_id}).fetchone()


def authenticate(conn, schema: str, app_schema: str, email: str, password: str) -> dict | None:
    """The user when the email and password match, else None (taking the same time either way)."""
    user = user_by(conn, schema, app_schema, email=email)
    if not passwords.verify(user["password_hash"] if user else None, password) or user is None:
        return None
    rehash = passwords.hash_password(password) if passwords.needs_rehash(user["password_hash"]) else None
    conn.execute(
        _q(TOUCH_LOGIN, schema, app_schema),
        {"user_id": user["id"], "contact_sfid": user["contact_sfid"], "rehash": rehash},
    )
    return user


def start_reset(conn, schema: str, app_schema: str, email: str) -> str | None:
    """A reset token for an active login with this email, or None (the caller answers the same either way)."""
    user = user_by(conn, schema, app_schema, email=email)
    if user is None or user["password_hash"] is None:
        return None
    token = passwords.new_token()
    with conn.transaction():
        issue(conn, app_schema, user["id"], "reset", token, RESET_TTL)
    return token


def session_version(conn, app_schema: str, user_id: int) -> int | None:
    """The login's current session version (a cookie with another one is ended); None if the login is gone."""
    row = conn.execute(_a(SESSION_VERSION, app_schema), {"user_id": user_id}).fetchone()
    return row["session_version"] if row else None


def end_sessions(conn, app_schema: str, user_id: int) -> None:
    """End every session of this login, on every device (logout, "log out everywhere")."""
    conn.execute(_a(END_SESSIONS, app_schema), {"user_id": user_id})


def create_api_token(conn, app_schema: str, user_id: int, name: str) -> str:
    """A new API token for the user; only its hash is stored, so it is shown once."""
    token = passwords.new_token()
    issue(conn, app_schema, user_id, "api", token, None, name=name)
    return token


def api_token_user_id(conn, app_schema: str, token: str) -> int | None:
    """The user an API token belongs to, or None."""
    row = conn.execute(_a(API_TOKEN_USER, app_schema), {"hash": passwords.token_hash(token)}).fetchone()
    return row["user_id"] if row else None


def api_tokens(conn, app_schema: str, user_id: int) -> list[dict]:
    """The user's API tokens (names and dates; the tokens themselves are not kept)."""
    return conn.execute(_a(LIST_API_TOKENS, app_schema), {"user_id": user_id}).fetchall()


def revoke_api_token(conn, app_schema: str, user_id: int, token_id: int) -> bool:
    """Delete one of the user's API tokens; False if it is not theirs."""
    cur = conn.execute(_a(REVOKE_API_TOKEN, app_schema), {"id": token_id, "user_id": user_id})
    return cur.rowcount == 1


# Demo logins: the first contacts of the first account (the big one: lowest AccountNumber) and of
# two more accounts that have orders. Known passwords, for a local demo only.
DEMO_CONTACTS = """
(SELECT c.sfid, a.accountnumber FROM {s}.contact c JOIN {s}.account a ON a.sfid = c.accountid
 WHERE c.email IS NOT NULL ORDER BY a.accountnumber, c.sfid LIMIT 1)
UNION ALL
(SELECT DISTINCT ON (a.accountnumber) c.sfid, a.accountnumber
 FROM {s}.contact c JOIN {s}.account a ON a.sfid = c.accountid
 WHERE c.email IS NOT NULL AND a.accountnumber > (SELECT min(accountnumber) FROM {s}.account)
   AND EXISTS (SELECT 1 FROM {s}."order" o WHERE o.accountid = a.sfid)
 ORDER BY a.accountnumber, c.sfid LIMIT %(more)s)
"""
DEMO_PASSWORD = "connect-demo-{n}"


def create_demo_users(conn, schema: str, app_schema: str, count: int = 3) -> list[dict]:
    """Logins with known passwords for a few demo contacts; the first belongs to the biggest account."""
    found = conn.execute(_q(DEMO_CONTACTS, schema, app_schema), {"more": max(count - 1, 0)}).fetchall()
    users = []
    for n, row in enumerate(found, start=1):
        user, token = invite(conn, schema, app_schema, row["sfid"])
        password = DEMO_PASSWORD.format(n=n)
        set_password_with_token(conn, app_schema, token, "invitation", password)
        users.append({"email": user["email"], "password": password, "account": row["accountnumber"]})
    return users
