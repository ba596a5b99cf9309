"""Password hashing: argon2id (argon2-cffi's defaults follow RFC 9106's recommendations)."""

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when an email has no login, so a missing user costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
MIN_LENGTH = 10
MAX_LENGTH = 200


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, salt and parameters included."""
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing hash still costs one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    return None


def new_token() -> str:
    """A random URL-safe token (256 bits) for invitations, resets and API access."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()
