"""Users' passwords: set through the REST API (`sobjects/User/<id>/password`), checked at login.

A user whose password was set logs in with that password alone, in every flow (SOAP, OAuth
password grant, the login page); everyone else with LOCAL_ORG_PASSWORD, or any password when it is
unset (standins/org/api/auth.py). The org keeps a salted PBKDF2 hash per user in its settings
(`password:<userId>`), never the password. Resetting (DELETE) sets a generated password and marks it
expired, as Salesforce does; login still works with it (and SOAP login reports `passwordExpired`),
but sessions are not limited to setting a new one. There are no security tokens: a password with a
token appended is a different password.
"""

import hashlib
import hmac
import json
import secrets
import string

from psycopg import sql

from standins.org import store
from standins.org.errors import SalesforceError

PREFIX = "password:"
ITERATIONS = 120_000
# Salesforce's default password policy: at least 8 characters, letters and numbers mixed.
MIN_LENGTH = 8
GENERATED_LENGTH = 10
USER_BY_USERNAME = ("SELECT id FROM {}.records WHERE object = 'User' AND NOT is_deleted "
                    "AND lower(fields->>'Username') = lower(%s)")


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), ITERATIONS).hex()


def _load(conn, schema: str, user_id: str) -> dict | None:
    row = conn.execute(sql.SQL(store.GET_SETTING).format(sql.Identifier(schema)), (PREFIX + user_id,)).fetchone()
    return json.loads(row["value"]) if row else None


def _save(conn, schema: str, user_id: str, password: str, *, expired: bool) -> None:
    salt = secrets.token_hex(16)
    value = json.dumps({"salt": salt, "hash": _hash(password, salt), "expired": expired})
    conn.execute(sql.SQL(store.SET_SETTING).format(sql.Identifier(schema)), (PREFIX + user_id, value, value))


def check_policy(password) -> None:
    """Refuse a new password the default policy refuses (INVALID_NEW_PASSWORD, with Salesforce's wording)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise SalesforceError(400, "INVALID_NEW_PASSWORD",
                              f"Your password must be at least {MIN_LENGTH} characters long.")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise SalesforceError(400, "INVALID_NEW_PASSWORD", "Your password must have a mix of letters and numbers.")


def set_password(conn, schema: str, user_id: str, password: str) -> None:
    """Give the user a new password (not expired)."""
    check_policy(password)
    _save(conn, schema, user_id, password, expired=False)


def reset(conn, schema: str, user_id: str) -> str:
    """Give the user a generated, expired password; return it."""
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH))
        if any(c.isalpha() for c in password) and any(c.isdigit() for c in password):
            break
    _save(conn, schema, user_id, password, expired=True)
    return password


def expired(conn, schema: str, user_id: str) -> bool:
    """Whether the user's password is expired (a reset one)."""
    stored = _load(conn, schema, user_id)
    return bool(stored and stored["expired"])


def login_check(conn, schema: str, username: str, password: str | None) -> tuple[bool, bool] | None:
    """(accepted, expired) for a user whose password was set, or None when the username has none."""
    row = conn.execute(sql.SQL(USER_BY_USERNAME).format(sql.Identifier(schema)), (username or "",)).fetchone()
    stored = _load(conn, schema, row["id"]) if row else None
    if stored is None:
        return None
    accepted = hmac.compare_digest(_hash(password or "", stored["salt"]), stored["hash"])
    return accepted, stored["expired"]
