"""Files that background jobs produce, stored in Postgres in chunks (tables in migration 0200).

A dyno's disk is ephemeral and private: a file a worker wrote there could never be downloaded
from a web dyno, and would vanish at the next daily restart. So the worker writes the file into
Postgres, one chunk per transaction (with the job's checkpoint, so a retried job never writes a
chunk twice), and the web dyno streams it back one chunk at a time.
"""

from psycopg import sql

# A file being rewritten from scratch (the same export asked for again) starts empty.
_CREATE = """
INSERT INTO {files} (job_id, filename, content_type) VALUES (%(job_id)s, %(filename)s, %(content_type)s)
ON CONFLICT (job_id) DO UPDATE
    SET filename = excluded.filename, content_type = excluded.content_type, rows = 0, bytes = 0,
        created_at = now(), expires_at = NULL
"""
_CLEAR = "DELETE FROM {chunks} WHERE job_id = %(job_id)s"
_APPEND = "INSERT INTO {chunks} (job_id, seq, data) VALUES (%(job_id)s, %(seq)s, %(data)s)"
_COMPLETE = """
UPDATE {files} SET rows = %(rows)s, bytes = %(bytes)s, expires_at = now() + make_interval(hours => %(ttl_hours)s)
WHERE job_id = %(job_id)s
"""
_GET = """
SELECT f.*, f.expires_at <= now() AS expired, (SELECT count(*) FROM {chunks} c WHERE c.job_id = f.job_id) AS chunks
FROM {files} f WHERE f.job_id = %(job_id)s
"""
_CHUNK = "SELECT data FROM {chunks} WHERE job_id = %(job_id)s AND seq = %(seq)s"
# Expired files, and files whose job never finished writing them (it failed) once they are as old.
_DELETE_EXPIRED = """
DELETE FROM {files}
WHERE expires_at <= now() OR (expires_at IS NULL AND created_at < now() - make_interval(hours => %(ttl_hours)s))
RETURNING job_id
"""


def _q(statement: str, app_schema: str) -> sql.Composed:
    """A statement with {files} and {chunks} filled in."""
    return sql.SQL(statement).format(
        files=sql.Identifier(app_schema, "export_files"), chunks=sql.Identifier(app_schema, "export_file_chunks")
    )


def create(conn, app_schema: str, job_id: str, filename: str, content_type: str) -> None:
    """Start (or restart) the job's file, empty and not yet downloadable."""
    conn.execute(_q(_CREATE, app_schema), {"job_id": job_id, "filename": filename, "content_type": content_type})
    conn.execute(_q(_CLEAR, app_schema), {"job_id": job_id})


def append(conn, app_schema: str, job_id: str, seq: int, data: bytes) -> None:
    """Add chunk number `seq` (a duplicate seq fails: a chunk is never written twice)."""
    conn.execute(_q(_APPEND, app_schema), {"job_id": job_id, "seq": seq, "data": data})


def complete(conn, app_schema: str, job_id: str, *, rows: int, size: int, ttl_hours: int) -> None:
    """Make the file downloadable until `ttl_hours` from now."""
    conn.execute(
        _q(_COMPLETE, app_schema), {"job_id": job_id, "rows": rows, "bytes": size, "ttl_hours": ttl_hours}
    )


def get(conn, app_schema: str, job_id: str) -> dict | None:
    """The file's metadata (with `expired` and `chunks`), or None."""
    return conn.execute(_q(_GET, app_schema), {"job_id": job_id}).fetchone()


def chunks(conn, app_schema: str, job_id: str, count: int):
    """Yield the file's bytes chunk by chunk: one query per chunk, so only one chunk is in memory."""
    statement = _q(_CHUNK, app_schema)
    for seq in range(count):
        yield conn.execute(statement, {"job_id": job_id, "seq": seq}).fetchone()["data"]


def delete_expired(conn, app_schema: str, ttl_hours: int) -> list[str]:
    """Delete expired and abandoned files; return their job ids."""
    return [r["job_id"] for r in conn.execute(_q(_DELETE_EXPIRED, app_schema), {"ttl_hours": ttl_hours})]
