"""`python manage.py doctor`: everything a working deploy needs, checked one by one, each with its fix.

Each check returns a `Finding`: passed or not, what was seen, and what to do when it failed. The
checks run in the order a deploy is built (database, Connect's schema, the app's schema, Redis,
workers, config, the org); one whose prerequisite failed says so instead of guessing. The
Scheduler jobs are a checklist, not a check: Heroku Scheduler has no API an app can read.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker import Worker

from core import config, connect, db, deploy, durations, migrate, queue, salesforce

# Connect reports DB_UNAVAILABLE when any of these is missing (docs/connect-contract.md).
SYSTEM_TABLES = ("_hcmeta", "_trigger_log", "_trigger_log_archive")
# Hosts where a plain (non-TLS) connection never leaves the machine.
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# A job waiting longer than this while workers are registered means they are not keeping up.
# Every job the app enqueues takes seconds (docs/long-work.md), so five minutes is already far behind.
MAX_QUEUE_AGE_S = 300
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    fix: str = ""  # what to do when it failed


def _pass(name, detail):
    return Finding(name, True, detail)


def _fail(name, detail, fix):
    return Finding(name, False, detail, fix)


TLS = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def postgres(conn: psycopg.Connection) -> Finding:
    """Postgres answers, over TLS unless it is on this machine."""
    name = "Postgres"
    host = conn.info.host
    tls = conn.execute(TLS).fetchone()
    if tls and tls["ssl"]:
        return _pass(name, f"reachable over TLS ({tls['version']})")
    if host.startswith("/") or host in LOOPBACK_HOSTS:
        return _pass(name, f"reachable on this machine ({host}) without TLS: fine locally, never on Heroku")
    return _fail(name, f"reachable at {host} but without TLS",
                 "add ?sslmode=require to DATABASE_URL; Heroku Postgres requires TLS, so a plain connection means "
                 "DATABASE_URL points somewhere else")


SCHEMA_TABLES = """
SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
"""
SCHEMA_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s) AS ok"


def connect_schema(conn, schema: str) -> Finding:
    """Connect's schema exists with its system tables."""
    name = "Connect schema"
    link = (f"link Connect to this database with schema {schema}: heroku connect:db:set --db DATABASE_URL "
            f"--schema {schema}, then heroku connect:sf:auth (locally make run builds it)")
    if not conn.execute(SCHEMA_EXISTS, {"schema": schema}).fetchone()["ok"]:
        return _fail(name, f"schema {schema} does not exist", link)
    tables = {r["name"] for r in conn.execute(SCHEMA_TABLES, {"schema": schema})}
    missing = [t for t in SYSTEM_TABLES if t not in tables]
    if missing:
        return _fail(name, f"{schema} lacks {', '.join(missing)} (Connect reports DB_UNAVAILABLE without them)",
                     f"{link}; or, if CONNECT_SCHEMA is wrong, set it to the schema Connect was given")
    extra = ", _sf_event_log" if "_sf_event_log" in tables else ""
    return _pass(name, f"{schema} has {', '.join(SYSTEM_TABLES)}{extra}")


COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %(schema)s
"""


def mapped_tables(conn, schema: str) -> Finding:
    """Every mapping's table exists with every column the mapping file names, and Connect's system columns."""
    name = "Mapped tables"
    found: dict[str, set[str]] = {}
    for r in conn.execute(COLUMNS, {"schema": schema}):
        found.setdefault(r["table_name"], set()).add(r["column_name"])
    problems = []
    for mapping in connect.mappings().values():
        if mapping.table not in found:
            problems.append(f"{mapping.object_name}: no table {schema}.{mapping.table}")
            continue
        expected = set(mapping.columns) | set(connect.SYSTEM_COLUMNS)
        missing = sorted(expected - found[mapping.table])
        if missing:
            problems.append(f"{mapping.object_name}: {schema}.{mapping.table} lacks {', '.join(missing)}")
    if problems:
        return _fail(name, "; ".join(problems),
                     "import the mapping: heroku connect:import sql/connect/mapping.json (after "
                     "python manage.py connect validate); a new field appears once Connect has reloaded the table")
    return _pass(name, f"{len(connect.mappings())} mappings, every column of sql/connect/mapping.json present")


def migrations(conn, app_schema: str) -> Finding:
    """The app's own migrations are all applied."""
    name = "Migrations"
    fix = "python manage.py migrate (the release phase runs it on every deploy: see heroku releases)"
    try:
        with conn.transaction():
            waiting = migrate.pending(conn, app_schema)
    except psycopg.errors.UndefinedTable:
        return _fail(name, f"schema {app_schema} has never been migrated", fix)
    if waiting:
        return _fail(name, f"{len(waiting)} pending: {', '.join(p.stem for p in waiting)}", fix)
    return _pass(name, f"schema {app_schema} is up to date ({len(list(migrate.MIGRATIONS_DIR.glob('*.sql')))} applied)")


def redis_server(conn: redis.Redis, url: str) -> Finding:
    """Redis answers a PING."""
    conn.ping()
    scheme = url.split(":", 1)[0]
    how = {"rediss": "over TLS (rediss://, certificate not verified: Heroku's is self-signed)",
           "unix": "on a local socket"}.get(scheme, "without TLS (redis://)")
    return _pass("Redis", f"reachable {how}")


def workers(conn: redis.Redis, now: datetime | None = None) -> Finding:
    """At least one RQ worker is registered and has sent a heartbeat recently."""
    name = "Workers"
    now = now or datetime.now(UTC)
    registered = Worker.all(connection=conn)
    alive = [w for w in registered
             if w.last_heartbeat and (now - w.last_heartbeat).total_seconds() < w.worker_ttl]
    if not alive:
        seen = f"{len(registered)} registered, none with a recent heartbeat" if registered else "no worker registered"
        return _fail(name, f"{seen}: queued jobs (exports, invoicing, samples) will wait forever",
                     "heroku ps:scale worker=1 --app <your-app>, then heroku logs --dyno worker; "
                     "locally make run starts one (Procfile.local)")
    served = sorted({q for w in alive for q in w.queue_names()})
    return _pass(name, f"{len(alive)} worker(s) serving {', '.join(served)}")


def queues_draining(conn: redis.Redis, now: datetime | None = None) -> Finding:
    """No queue has a job that has waited longer than MAX_QUEUE_AGE_S."""
    name = "Queues"
    now = now or datetime.now(UTC)
    waits = []
    for queue_name in queue.QUEUES:
        q = Queue(queue_name, connection=conn, serializer=JSONSerializer)
        oldest = q.get_job_ids(0, 1)
        if not oldest:
            continue
        job = Job.fetch(oldest[0], connection=conn, serializer=JSONSerializer)
        age = (now - job.enqueued_at).total_seconds() if job.enqueued_at else 0.0
        waits.append((queue_name, q.count, age))
    stuck = [w for w in waits if w[2] > MAX_QUEUE_AGE_S]
    shown = ", ".join(f"{n}: {count} waiting, oldest {durations.human(age)}" for n, count, age in waits) or "all empty"
    if stuck:
        return _fail(name, f"not draining ({shown})",
                     "start a worker or add some: heroku ps:scale worker=2 --app <your-app>; a worker that runs but "
                     "takes nothing shows its reason in heroku logs --dyno worker")
    return _pass(name, shown)


def settings(cfg: config.Config) -> Finding:
    """The configuration is what this environment needs (load() already refused malformed values)."""
    name = "Config vars"
    problems = []
    if cfg.environment == "production":
        for require in (cfg.require_app_url, cfg.require_secret_key):
            try:
                require()
            except config.ConfigError as exc:
                problems.append(str(exc))
        local = cfg.local_only_set()
        if local:
            problems.append(f"{', '.join(local)} set in production: they point at local stand-ins; unset them")
    if problems:
        return _fail(name, " ".join(problems), "heroku config:set / config:unset --app <your-app>, as the lines say")
    ops = "ops pages on" if cfg.ops.enabled else "ops pages off (set OPS_USERNAME and OPS_PASSWORD to open them)"
    return _pass(name, f"APP_ENV={cfg.environment}, links start with {cfg.public_url()}, {ops}")


def org(cfg: config.Config) -> Finding:
    """When credentials are set, the org logs the tools in and reports its limits."""
    name = "Salesforce org"
    org_cfg = cfg.salesforce
    if not (org_cfg.instance_url or org_cfg.username or org_cfg.local_url):
        return _pass(name, "no credentials set (SF_USERNAME or SF_INSTANCE_URL): not checked; the app itself "
                           "never calls Salesforce")
    try:
        limits = salesforce.connect(org_cfg).limits()
    except Exception as exc:  # a login refused, a DNS failure, an expired session: all say the same thing here
        return _fail(name, f"could not log in or read limits/: {exc}".strip(),
                     "check SF_USERNAME/SF_PASSWORD/SF_SECURITY_TOKEN (SF_DOMAIN=test for a sandbox) or renew "
                     "SF_SESSION_ID; the user needs API Enabled")
    api = limits.get("DailyApiRequests", {})
    return _pass(name, f"logged in; DailyApiRequests {api.get('Remaining', '?')} of {api.get('Max', '?')} left")


def run(cfg: config.Config) -> list[Finding]:
    """Every check, in order; a check whose prerequisite failed is reported as not run."""
    findings = []
    try:
        conn = db.connect(cfg.database_url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        conn = None
        findings.append(_fail("Postgres", f"not reachable: {str(exc).strip().splitlines()[0]}",
                              "check DATABASE_URL (heroku pg:info --app <your-app>); locally make run starts one"))
    if conn is not None:
        with conn:
            findings += [postgres(conn), connect_schema(conn, cfg.connect_schema),
                         mapped_tables(conn, cfg.connect_schema), migrations(conn, cfg.app_schema)]
    else:
        findings += [_fail(n, "not checked: Postgres is not reachable", "fix Postgres first")
                     for n in ("Connect schema", "Mapped tables", "Migrations")]
    client = queue.connect(cfg.redis_url)
    try:
        findings.append(redis_server(client, cfg.redis_url))
        findings += [workers(client), queues_draining(client)]
    except redis.RedisError as exc:
        findings.append(_fail("Redis", f"not reachable: {exc}",
                              "check REDIS_URL (heroku redis:info --app <your-app>); rediss:// URLs need TLS, which "
                              "core/queue.py turns on"))
        findings += [_fail(n, "not checked: Redis is not reachable", "fix Redis first") for n in ("Workers", "Queues")]
    findings += [settings(cfg), org(cfg)]
    return findings


def render(findings: list[Finding], app: str | None = None) -> list[str]:
    """The lines doctor prints: one per check (and its fix when it failed)."""
    width = max(len(f.name) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"{'ok  ' if f.ok else 'FAIL'}  {f.name:<{width}}  {f.detail}")
        if not f.ok:
            lines.append(f"      {'':<{width}}  -> {f.fix.replace(deploy.APP_PLACEHOLDER, app) if app else f.fix}")
    return lines
