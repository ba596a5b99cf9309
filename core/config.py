"""Configuration from the environment, read once at boot (12-factor): the only module that reads it.

Every process (web, worker, release, one-off commands) calls `load()`. Each field names the
variable it comes from (`setting("PORT", …)`), so the list of variables the app reads is derived
from `Config` itself (`variables()`; tests hold app.json and .env.example to it). A missing or
malformed value stops the process at boot with one line naming the variable (`exit_on_error()`),
instead of failing later inside a request or a job. Secrets stay out of reprs, and so out of logs.
"""

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Heroku names follower databases HEROKU_POSTGRESQL_<COLOR>_URL; READ_DATABASE_URL may name one.
_CONFIG_VAR = re.compile(r"^[A-Z][A-Z0-9_]*$")
_DOTTED_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_PG_SCHEMES = {"postgres", "postgresql"}
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
_WEB_SCHEMES = {"http", "https"}


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed."""


# A parser turns a variable's (stripped, non-empty) text into its value, or raises ConfigError.
Parser = Callable[[str, str, Mapping], object]


def _text(name, raw, env):
    return raw


def _whole(low: int, high: int) -> Parser:
    def parse(name, raw, env):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number; got {raw!r}.") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}; got {value}.")
        return value

    return parse


def _number(kind: type, low, high) -> Parser:
    def parse(name, raw, env):
        try:
            value = kind(raw)
            finite = math.isfinite(value)
        except (ValueError, InvalidOperation):
            raise ConfigError(f"{name} must be a number; got {raw!r}.") from None
        if not (finite and low <= value <= high):
            raise ConfigError(f"{name} must be between {low} and {high}; got {raw}.")
        return value

    return parse


def _url(schemes: set[str]) -> Parser:
    def parse(name, raw, env):
        scheme = urlsplit(raw).scheme
        if scheme not in schemes:
            raise ConfigError(
                f"{name} must start with one of {', '.join(s + '://' for s in sorted(schemes))}; "
                f"got {scheme or 'no scheme'}://"
            )
        return raw

    return parse


def _public_url(name, raw, env):
    parts = urlsplit(raw)
    if parts.scheme not in _WEB_SCHEMES or not parts.netloc:
        raise ConfigError(f"{name} must be the app's public URL, like https://your-app.herokuapp.com; got {raw!r}.")
    return raw.rstrip("/")


def _org_url(name, raw, env):
    parts = urlsplit(raw)
    if parts.scheme not in _WEB_SCHEMES or not parts.netloc or parts.path.strip("/"):
        raise ConfigError(f"{name} must be the org's URL, like https://acme.my.salesforce.com; got {raw!r}.")
    return raw.rstrip("/")


def _identifier(name, raw, env):
    if not _IDENTIFIER.match(raw):
        raise ConfigError(f"{name} must be a lowercase SQL identifier (letters, digits, _); got {raw!r}.")
    return raw


def _choice(*values: str) -> Parser:
    def parse(name, raw, env):
        if raw not in values:
            raise ConfigError(f"{name} must be {', '.join(values[:-1])} or {values[-1]}; got {raw!r}.")
        return raw

    return parse


def _follower_url(name, raw, env):
    """A Postgres URL, or the name of the config var holding one (e.g. HEROKU_POSTGRESQL_COPPER_URL)."""
    if _CONFIG_VAR.match(raw):
        target = env.get(raw, "").strip()
        if not target:
            raise ConfigError(f"{name} names {raw}, which is not set.")
        return _url(_PG_SCHEMES)(raw, target, env)
    return _url(_PG_SCHEMES)(name, raw, env)


def _dotted_path(name, raw, env):
    if not _DOTTED_PATH.match(raw):
        raise ConfigError(f"{name} must be a dotted path such as package.module.Class; got {raw!r}.")
    return raw


@dataclass(frozen=True)
class DemoLogin:
    """A demo portal login `make run` created, with its published password (never on Heroku)."""

    email: str
    password: str = field(repr=False)


def _demo_logins(name, raw, env):
    """`email:password` pairs separated by commas, as demo_logins_text() writes them."""
    found = []
    for entry in raw.split(","):
        email, colon, password = entry.strip().partition(":")
        if not (colon and "@" in email and password):
            raise ConfigError(f"{name} must be email:password pairs separated by commas; got {entry.strip()!r}.")
        found.append(DemoLogin(email, password))
    return tuple(found)


def demo_logins_text(users: list[dict]) -> str:
    """The DEMO_LOGINS value for users with an email and a password (core.logins.create_demo_users)."""
    return ",".join(f"{u['email']}:{u['password']}" for u in users)


def setting(env: str, parse: Parser = _text, default=None, *, required: bool = False, secret: bool = False,
            local_only: bool = False):
    """A field read from the environment variable `env` by `parse`; unset or blank means `default`."""
    metadata = {"env": env, "parse": parse, "secret": secret, "local_only": local_only}
    if required:
        return field(repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


def part(cls: type):
    """A group of settings inside Config (cfg.ops, cfg.invoicing, …), read from the same environment."""
    return field(default_factory=cls, metadata={"part": cls})


@dataclass(frozen=True)
class Ops:
    """The operators' HTTP Basic login for the /ops pages: both set turns them on, neither keeps them off (404)."""

    username: str | None = setting("OPS_USERNAME")
    password: str | None = setting("OPS_PASSWORD", secret=True)

    def __post_init__(self):
        if bool(self.username) != bool(self.password):
            given, missing = ("OPS_USERNAME", "OPS_PASSWORD") if self.username else ("OPS_PASSWORD", "OPS_USERNAME")
            raise ConfigError(f"{given} is set but {missing} is not: set both to turn the ops pages on, "
                              "or neither to keep them off.")

    @property
    def enabled(self) -> bool:
        """True when the ops pages are on."""
        return bool(self.username)


@dataclass(frozen=True)
class Invoicing:
    """Batch invoicing's knobs (docs/batch-invoicing.md)."""

    tax_rate: Decimal = setting("INVOICE_TAX_RATE", _number(Decimal, 0, 1), Decimal("0.20"))
    # Days after the end of the billing month an invoice is due.
    due_days: int = setting("INVOICE_DUE_DAYS", _whole(0, 365), 30)
    # RQ jobs per run: at least about 4 × the worker processes, so they finish together.
    chunks: int = setting("INVOICE_CHUNKS", _whole(1, 1000), 20)


@dataclass(frozen=True)
class Salesforce:
    """The org the operations tools log in to (`verify-sync`, `org setup`), by session, password or locally."""

    username: str | None = setting("SF_USERNAME")
    password: str | None = setting("SF_PASSWORD", secret=True)
    security_token: str = setting("SF_SECURITY_TOKEN", default="", secret=True)
    # login (production, Developer Edition), test (sandbox), or a My Domain prefix.
    domain: str = setting("SF_DOMAIN", default="login")
    instance_url: str | None = setting("SF_INSTANCE_URL", _url({"https"}))
    session_id: str | None = setting("SF_SESSION_ID", secret=True)
    # The local org stand-in on loopback that `make run` starts (plain http).
    local_url: str | None = setting("LOCAL_ORG_URL", _url(_WEB_SCHEMES), local_only=True)
    # Where people open the org in a browser (https://acme.my.salesforce.com): the portal's "View in
    # Salesforce" links are <org URL>/lightning/r/<Object>/<Id>/view. Unset: no such links.
    org_url: str | None = setting("SALESFORCE_ORG_URL", _org_url)

    def __post_init__(self):
        if self.username and not self.password:
            raise ConfigError("SF_USERNAME is set but SF_PASSWORD is not.")
        if bool(self.instance_url) != bool(self.session_id):
            given, missing = ("SF_INSTANCE_URL", "SF_SESSION_ID") if self.instance_url else (
                "SF_SESSION_ID", "SF_INSTANCE_URL")
            raise ConfigError(f"{given} is set but {missing} is not: an existing session needs both.")


@dataclass(frozen=True)
class Config:
    """Everything the processes read from the environment."""

    database_url: str = setting("DATABASE_URL", _url(_PG_SCHEMES), required=True, secret=True)
    redis_url: str = setting("REDIS_URL", _url(_REDIS_SCHEMES), required=True, secret=True)
    read_database_url: str | None = setting("READ_DATABASE_URL", _follower_url, secret=True)
    secret_key: str | None = setting("SECRET_KEY", secret=True)
    connect_schema: str = setting("CONNECT_SCHEMA", _identifier, "salesforce")
    app_schema: str = setting("APP_SCHEMA", _identifier, "app")
    port: int = setting("PORT", _whole(1, 65535), 5000)
    web_concurrency: int = setting("WEB_CONCURRENCY", _whole(1, 64), 2)
    # Milliseconds a web request's SQL may run before Postgres cancels it (under the router's 30 s).
    statement_timeout_ms: int = setting("STATEMENT_TIMEOUT_MS", _whole(100, 25_000), 20_000)
    # Connections each process keeps open; see docs/architecture.md for the arithmetic.
    db_pool_size: int = setting("DB_POOL_SIZE", _whole(1, 100), 5)
    # Set on Heroku ("production"); locally "development" relaxes Secure cookies over plain http.
    environment: str = setting("APP_ENV", _choice("production", "development", "test"), "production")
    # How long a portal login lasts without logging in again.
    session_lifetime_hours: int = setting("SESSION_LIFETIME_HOURS", _whole(1, 24 * 30), 12)
    # Hours a background export's file stays downloadable before cleanup deletes it (docs/long-work.md).
    export_ttl_hours: int = setting("EXPORT_TTL_HOURS", _whole(1, 24 * 90), 24)
    # The app's public URL: every absolute link (reset and invitation links, the OpenAPI `servers`)
    # starts with it, never with the request's Host header. Required in production (require_app_url).
    app_url: str | None = setting("APP_URL", _public_url)
    # The app's name on Heroku, from dyno metadata (`heroku labs:enable runtime-dyno-metadata`; review
    # apps always have it): postdeploy and doctor fill it into the commands they print.
    heroku_app_name: str | None = setting("HEROKU_APP_NAME")
    # Proxies in front of the web process that append to X-Forwarded-For: Heroku's router is one.
    # Unset: 1 in production (on Heroku), 0 elsewhere (nothing in front: the header is the client's own).
    proxy_hops: int | None = setting("PROXY_HOPS", _whole(0, 5))
    # Who tells the sync console Connect's own state (core/connect_info.py); unset on Heroku.
    connect_info: str | None = setting("CONNECT_INFO", _dotted_path, local_only=True)
    # The Heroku Connect add-on's plan (its rules: core/connect.py PLANS): demo caps synced rows at 10,000
    # across all mappings; the console and invoicing plan against that cap.
    connect_plan: str = setting("CONNECT_PLAN", _choice("demo", "enterprise"), "demo")
    # The demo portal logins `make run` creates, for the landing page to list: local only, since their
    # passwords are published (set by standins/run.py; `create-demo-users` refuses production).
    demo_logins: tuple[DemoLogin, ...] | None = setting("DEMO_LOGINS", _demo_logins, secret=True, local_only=True)
    ops: Ops = part(Ops)
    invoicing: Invoicing = part(Invoicing)
    salesforce: Salesforce = part(Salesforce)

    def __post_init__(self):
        if self.connect_schema == self.app_schema:
            raise ConfigError(
                "APP_SCHEMA must differ from CONNECT_SCHEMA: Connect owns its schema, the app owns its own."
            )

    def require_app_url(self) -> None:
        """In production the web process needs APP_URL: absolute links are never built from the Host header."""
        if self.environment == "production" and not self.app_url:
            raise ConfigError(
                "APP_URL is not set: in production links in emails and the API description are built from it, "
                "never from the request's Host header. Set it to the app's public URL, like "
                "https://your-app.herokuapp.com (heroku config:set APP_URL=…)."
            )

    def local_only_set(self) -> list[str]:
        """The local-only variables (LOCAL_ORG_URL, …) that have a value: none should on Heroku."""
        return _local_only_set(self)

    def forwarded_hops(self) -> int:
        """How many X-Forwarded-For entries, from the right, were added by proxies the app trusts."""
        if self.proxy_hops is not None:
            return self.proxy_hops
        return 1 if self.environment == "production" else 0

    def public_url(self) -> str:
        """The start of every absolute link: APP_URL, or outside production the local app on PORT."""
        return self.app_url or f"http://localhost:{self.port}"

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


@dataclass(frozen=True)
class Variable:
    """An environment variable the app reads, as its Config field declares it."""

    name: str
    secret: bool
    local_only: bool  # read only on a developer's machine (make run, tests); unset on Heroku


def _local_only_set(values) -> list[str]:
    found = []
    for f in fields(values):
        if "part" in f.metadata:
            found += _local_only_set(getattr(values, f.name))
        elif f.metadata["local_only"] and getattr(values, f.name) is not None:
            found.append(f.metadata["env"])
    return found


def variables(cls: type = Config) -> list[Variable]:
    """Every environment variable `load()` reads, in declaration order."""
    found = []
    for f in fields(cls):
        if "part" in f.metadata:
            found += variables(f.metadata["part"])
        else:
            found.append(Variable(f.metadata["env"], f.metadata["secret"], f.metadata["local_only"]))
    return found


def _read(cls: type, env: Mapping):
    values = {}
    for f in fields(cls):
        if "part" in f.metadata:
            values[f.name] = _read(f.metadata["part"], env)
            continue
        name = f.metadata["env"]
        raw = env.get(name, "").strip()
        if raw:
            values[f.name] = f.metadata["parse"](name, raw, env)
        elif f.default is MISSING:
            raise ConfigError(f"{name} is not set.")
    return cls(**values)


def load(env: Mapping | None = None) -> Config:
    """Read and check the configuration; raise ConfigError naming the first bad variable."""
    return _read(Config, os.environ if env is None else env)


@contextmanager
def exit_on_error():
    """Turn a ConfigError into one line on stderr and exit status 2: what every entry point does at boot."""
    try:
        yield
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
