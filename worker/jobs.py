"""Small jobs every deployment can run; larger features keep their jobs in their own modules."""

from core import config, db


def ping_database() -> dict:
    """Prove a worker reaches Postgres (used by tests and by ops to check a worker dyno)."""
    with db.connect(config.load().database_url) as conn:
        return {"postgres": conn.execute("SELECT version() AS v").fetchone()["v"]}
