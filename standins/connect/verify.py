"""`make verify-sync`: `manage.py verify-sync` against the stack `make run` is running.

make run keeps DATABASE_URL to itself (an embedded server under .data/); this joins the same
server and database, points at the local org, and runs the unchanged command.
"""

import os
import sys

from standins import services
from standins.run import DATABASE_NAME, read_env_file


def main() -> int:
    """Fill in what make run would have set, then run verify-sync."""
    env = {**read_env_file(), **os.environ}
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = services.database_url(services.embedded_postgres().get_uri(), DATABASE_NAME)
    if not (env.get("SF_USERNAME") or env.get("SF_SESSION_ID")):
        env.setdefault("LOCAL_ORG_URL", "http://127.0.0.1:5100")
    env.setdefault("REDIS_URL", "redis://unused")  # config requires one; verify-sync never uses Redis
    os.environ.update(env)
    from manage import cli

    return cli(["verify-sync", *sys.argv[1:]], standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
