"""The app's own schema, changed only by ordered plain-SQL migrations (run by the Procfile's `release:`).

Each file in `sql/migrations/` runs once, in name order, and is recorded in
`<app schema>.schema_migrations`. All the pending files of a release run in ONE transaction: if
any of them fails, none of them is applied, the release phase fails and the dynos of the previous
release keep running on the schema they know. A transaction-level advisory lock keeps two release
phases (or a release and a test run) from migrating at the same time.

`sql/connect_indexes.sql` is different: it holds the few indexes on Connect tables that the
mapping file cannot express (several columns). Connect may create or re-create its tables after
the release phase has run (the org is authorized in a browser, mappings are reloaded), so that
file is idempotent and runs on every release, skipping tables that do not exist yet.

Files may use `{app_schema}` and `{connect_schema}`; they are replaced by quoted identifiers.
"""

from pathlib import Path

from psycopg import sql

from core.db import compose
from core.paths import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
CONNECT_INDEXES_FILE = SQL_DIR / "connect_indexes.sql"
_LOCK_KEY = 4_207_311  # any constant; shared by every process that migrates


def _render(text: str, app_schema: str, connect_schema: str) -> sql.Composed:
    return compose(text, app_schema=sql.Identifier(app_schema), connect_schema=sql.Identifier(connect_schema))


def pending(conn, app_schema: str) -> list[Path]:
    """Migration files not yet applied."""
    applied = {
        r["version"]
        for r in conn.execute(sql.SQL("SELECT version FROM {}.schema_migrations").format(sql.Identifier(app_schema)))
    }
    return [p for p in sorted(MIGRATIONS_DIR.glob("*.sql")) if p.stem not in applied]


def migrate(conn, app_schema: str = "app", connect_schema: str = "salesforce", log=print) -> list[str]:
    """Apply pending migrations, then the idempotent Connect-table indexes; return what ran."""
    ran = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(app_schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(sql.Identifier(app_schema))
        )
        for path in pending(conn, app_schema):
            conn.execute(_render(path.read_text(), app_schema, connect_schema))
            conn.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)").format(sql.Identifier(app_schema)),
                (path.stem,),
            )
            log(f"migrated {path.name}")
            ran.append(path.stem)
        if CONNECT_INDEXES_FILE.exists():
            conn.execute(_render(CONNECT_INDEXES_FILE.read_text(), app_schema, connect_schema))
    return ran
