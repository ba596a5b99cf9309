"""`python -m standins.org`: the local org on 127.0.0.1:$LOCAL_ORG_PORT (default 5100).

On first start it loads every record of the local Connect schema (the demo data) into the org, so
the org and Postgres start in sync, as they would after Connect's initial load.
"""

import logging
import os
import sys

from werkzeug.serving import run_simple

from core import config, logs
from standins.org import seed
from standins.org.server import Org, create_org_app


def main() -> int:
    """Serve until stopped."""
    logs.setup()
    # One line per request from the polling engine would drown every other log line.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    cfg = config.load()
    port = int(os.environ.get("LOCAL_ORG_PORT", "5100"))
    org = Org(cfg.database_url, os.environ.get("LOCAL_ORG_SCHEMA", "local_org"),
              daily_api_limit=int(os.environ.get("LOCAL_ORG_DAILY_API_LIMIT", "15000")))
    copied = seed.from_connect_schema(org, cfg.connect_schema)
    if copied:
        print(f"local org: loaded {copied:,} records from {cfg.connect_schema}", flush=True)
    print(f"local org: http://127.0.0.1:{port}", flush=True)
    run_simple("127.0.0.1", port, create_org_app(org), threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
