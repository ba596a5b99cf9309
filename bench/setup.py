"""What every benchmark starts from: a demo database loaded once, and gunicorn run as the Procfile runs it."""

import http.client
import subprocess
import sys
import time
from pathlib import Path

from core import db
from core.migrate import migrate
from core.paths import ROOT
from standins import demo_data, services
from standins.provision import provision


def demo_database(server_url: str, name: str, *, accounts: int, orders: int) -> str:
    """Database `name` with that much demo data (loaded once, reused by later runs), analyzed."""
    url = services.ensure_database(server_url, name)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
        if not demo_data.loaded(conn, "app"):
            print(f"loading {orders:,} orders over {accounts:,} accounts (once) …", flush=True)
            demo_data.load(conn, accounts=accounts, orders=orders, log=lambda *_: None)
            migrate(conn, "app", "salesforce", log=lambda *_: None)  # the app's indexes on the loaded tables
        conn.execute("ANALYZE")
    return url


def start_gunicorn(env: dict, port: int, log: Path) -> subprocess.Popen:
    """gunicorn as the Procfile runs it (gunicorn.conf.py), bound to loopback; returns once /healthz answers."""
    master = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "web:create_app()"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return master
        except OSError:
            pass
        time.sleep(0.1)
    master.terminate()
    raise RuntimeError(f"gunicorn did not start; see {log}")
