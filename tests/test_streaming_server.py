"""Streamed exports through a real gunicorn, configured as the Procfile runs it (gthread, timeout 20).

- a client that goes away stops the export's query in Postgres;
- a stream that lasts longer than gunicorn's worker timeout is not killed by it.
"""

import base64
import socket
import time

import pytest

from core import db
from standins import services
from tests import connect_rows, processes
from tests.people import OPS_PASSWORD, OPS_USER

pytestmark = pytest.mark.slow
ORDERS = 200_000
# Our COPY statements, as pg_stat_activity shows them while they run or hold their transaction.
_EXPORT_SESSIONS = """
SELECT count(*) AS n FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%%COPY (SELECT%%'
  AND state IN ('active', 'idle in transaction')
"""


@pytest.fixture(scope="module")
def server(database_url, app_config, tmp_path_factory):
    """gunicorn on 127.0.0.1 with a worker timeout of 2 s, and ORDERS orders to export."""
    with db.connect(database_url) as conn:
        connect_rows.load(conn, accounts=100, orders=ORDERS)
        conn.execute("ANALYZE")
    port = services.free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = processes.environment(app_config, PORT=port, WEB_CONCURRENCY=1, OPS_USERNAME=OPS_USER,
                                OPS_PASSWORD=OPS_PASSWORD)
    # The command line overrides gunicorn.conf.py: loopback only, and a timeout short enough to test.
    gunicorn = processes.start([str(processes.ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py",
                                "--bind", f"127.0.0.1:{port}", "--timeout", "2", "web:create_app()"], env, log)
    processes.wait_for(lambda: _answers(port), 30, "gunicorn to listen")
    yield {"port": port, "log": log}
    processes.stop(gunicorn)
    with db.connect(database_url) as conn:
        conn.execute('TRUNCATE salesforce."order", salesforce.account')


def _answers(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _request_export(port) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    token = base64.b64encode(f"{OPS_USER}:{OPS_PASSWORD}".encode()).decode()
    client.sendall(f"GET /ops/exports/orders.csv HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n"
                   "Connection: close\r\n\r\n".encode())
    return client


def _read(client, at_least: int) -> bytes:
    data = b""
    while len(data) < at_least:
        piece = client.recv(65536)
        if not piece:
            break
        data += piece
    return data


def _dechunk(body: bytes) -> bytes:
    """The payload of a chunked HTTP/1.1 body; fails unless the final zero-length chunk arrived."""
    out, rest = b"", body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, rest = out + rest[:size], rest[size + 2:]


def test_client_that_goes_away_stops_the_query(server, database_url):
    conn = db.connect(database_url)  # not the `conn` fixture: it would empty the tables the server exports
    client = _request_export(server["port"])
    head = _read(client, 8192)
    assert head.startswith(b"HTTP/1.1 200") and b"Order number" in head
    # Not reading: the server blocks on the socket with the COPY's transaction open.
    assert processes.wait_for(lambda: conn.execute(_EXPORT_SESSIONS).fetchone()["n"], 10, "the export query")
    client.close()
    processes.wait_for(lambda: conn.execute(_EXPORT_SESSIONS).fetchone()["n"] == 0, 5,
                       "the export query to stop after the client left")
    conn.close()


def test_stream_longer_than_the_worker_timeout_completes(server):
    client = _request_export(server["port"])
    started = time.monotonic()
    body = _read(client, 1 << 20)
    time.sleep(5)  # a slow client: the response now lasts well past gunicorn's 2 s timeout
    while piece := client.recv(1 << 20):
        body += piece
    client.close()
    assert time.monotonic() - started > 5
    csv_lines = _dechunk(body.partition(b"\r\n\r\n")[2]).splitlines()
    assert len(csv_lines) == 1 + ORDERS
    assert b"WORKER TIMEOUT" not in server["log"].read_bytes()
