"""Configuration from the environment, read once at boot (12-factor).

Every process (web, worker, release, one-off commands) calls `load()`. A missing or malformed
value stops the process at boot with a message naming the variable, instead of failing later
inside a request or a job.
"""

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Heroku names follower databases HEROKU_POSTGRESQL_<COLOR>_URL; READ_DATABASE_URL picks one.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PG_SCHEMES = {"postgres", "postgresql"}
_REDIS_SCHEMES = {"redis", "rediss", "unix"}


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Config:
    """Everything the processes read from the environment."""

    database_url: str
    redis_url: str
    read_database_url: str | None = None
    secret_key: str | None = None
    connect_schema: str = "salesforce"
    app_schema: str = "app"
    port: int = 5000
    web_concurrency: int = 2
    # Seconds a web request's SQL may run before Postgres cancels it (under the router's 30 s).
    statement_timeout_ms: int = 20_000
    # Connections each process keeps open; see docs/architecture.md for the arithmetic.
    db_pool_size: int = 5
    # Set on Heroku ("production"); locally "development" relaxes Secure cookies over plain http.
    environment: str = "production"
    # How long a portal login lasts without logging in again.
    session_lifetime_hours: int = 12
    # Hours a background export's file stays downloadable before cleanup deletes it (docs/long-work.md).
    export_ttl_hours: int = 24

    def require_secret_key(self) -> str:
        """The signing key; only the web process needs one, and there is no fallback."""
        if not self.secret_key:
            raise ConfigError(
                "SECRET_KEY is not set. On Heroku app.json generates one; locally `make run` "
                "writes one to .env. Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if len(self.secret_key) < 32:
            raise ConfigError("SECRET_KEY is too short: use at least 32 random characters.")
        return self.secret_key


def _url(env, name, schemes, required=True):
    value = env.get(name, "").strip()
    if not value:
        if required:
            raise ConfigError(f"{name} is not set.")
        return None
    scheme = urlsplit(value).scheme
    if scheme not in schemes:
        raise ConfigError(
            f"{name} must start with one of {', '.join(s + '://' for s in sorted(schemes))}; got {scheme or 'no scheme'}://"
        )
    return value


def _int(env, name, default, low, high):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; got {value}.")
    return value


def _identifier(env, name, default):
    value = env.get(name, "").strip() or default
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"{name} must be a lowercase SQL identifier (letters, digits, _); got {value!r}.")
    return value


def read_database_url(env) -> str | None:
    """The follower to read from: READ_DATABASE_URL, either a URL or the name of a config var holding one."""
    value = env.get("READ_DATABASE_URL", "").strip()
    if not value:
        return None
    if re.match(r"^[A-Z][A-Z0-9_]*$", value):
        if not env.get(value):
            raise ConfigError(f"READ_DATABASE_URL names {value}, which is not set.")
        return _url(env, value, _PG_SCHEMES)
    return _url(env, "READ_DATABASE_URL", _PG_SCHEMES)


def load(env=None) -> Config:
    """Read and check the configuration; raise ConfigError naming the first bad variable."""
    env = os.environ if env is None else env
    connect_schema = _identifier(env, "CONNECT_SCHEMA", "salesforce")
    app_schema = _identifier(env, "APP_SCHEMA", "app")
    if connect_schema == app_schema:
        raise ConfigError("APP_SCHEMA must differ from CONNECT_SCHEMA: Connect owns its schema, the app owns its own.")
    environment = env.get("APP_ENV", "production").strip() or "production"
    if environment not in {"production", "development", "test"}:
        raise ConfigError(f"APP_ENV must be production, development or test; got {environment!r}.")
    return Config(
        database_url=_url(env, "DATABASE_URL", _PG_SCHEMES),
        redis_url=_url(env, "REDIS_URL", _REDIS_SCHEMES),
        read_database_url=read_database_url(env),
        secret_key=env.get("SECRET_KEY") or None,
        connect_schema=connect_schema,
        app_schema=app_schema,
        port=_int(env, "PORT", 5000, 1, 65535),
        web_concurrency=_int(env, "WEB_CONCURRENCY", 2, 1, 64),
        statement_timeout_ms=_int(env, "STATEMENT_TIMEOUT_MS", 20_000, 100, 25_000),
        db_pool_size=_int(env, "DB_POOL_SIZE", 5, 1, 100),
        environment=environment,
        export_ttl_hours=_int(env, "EXPORT_TTL_HOURS", 24, 1, 24 * 90),
        session_lifetime_hours=_int(env, "SESSION_LIFETIME_HOURS", 12, 1, 24 * 30),
    )
