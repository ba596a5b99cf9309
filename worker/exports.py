"""The export job: a CSV written into Postgres chunk by chunk, resumable (old files: `manage.py exports cleanup`).

`export_csv` commits each chunk together with its checkpoint. If the worker is stopped
(SIGTERM → ShutDownImminentException) or killed (SIGKILL), the chunk in flight rolls back and the
retry continues after the last committed one: the file has every row exactly once.
"""

from core import config, db, export_files, exports, jobs

CONTENT_TYPE = "text/csv; charset=utf-8"


def export_csv(job_id: str) -> None:
    """Write the export named in the job's params (`export`, plus its scope) into export_files."""
    cfg = config.load()
    schemas = {"connect_schema": cfg.connect_schema, "app_schema": cfg.app_schema}
    with jobs.running(job_id, database_url=cfg.database_url, app_schema=cfg.app_schema) as job, \
            db.connect(cfg.database_url) as conn:
        export = exports.get(job.params["export"])
        scope = job.params.get("scope", {})
        checkpoint = job.checkpoint
        if checkpoint is None:
            with conn.transaction():
                total = exports.count(conn, export, scope, **schemas)
                header = export.header_row()
                export_files.create(conn, cfg.app_schema, job.id, export.filename, CONTENT_TYPE)
                export_files.append(conn, cfg.app_schema, job.id, 0, header)
                checkpoint = {"after": 0, "seq": 1, "rows": 0, "bytes": len(header), "total": total}
                job.save_checkpoint(conn, checkpoint, done=0, total=total)
        job.progress(checkpoint["rows"], checkpoint["total"], force=True)
        while not checkpoint.get("complete"):
            checkpoint = _next_chunk(conn, job, export, scope, checkpoint, cfg, schemas)
            job.progress(checkpoint["rows"], max(checkpoint["total"], checkpoint["rows"]))
        with conn.transaction():
            export_files.complete(conn, cfg.app_schema, job.id, rows=checkpoint["rows"], size=checkpoint["bytes"],
                                  ttl_hours=cfg.export_ttl_hours)
        job.progress(checkpoint["rows"], checkpoint["rows"], force=True)
        job.result = {"file": export.filename, "rows": checkpoint["rows"], "bytes": checkpoint["bytes"],
                      "expires_in_hours": cfg.export_ttl_hours}


def _next_chunk(conn, job, export, scope, checkpoint, cfg, schemas) -> dict:
    """Copy one chunk into the file and move the checkpoint past it, in one transaction."""
    with conn.transaction():
        upto = exports.next_upto(conn, export, scope, checkpoint["after"], **schemas)
        if upto is None:
            checkpoint = {**checkpoint, "complete": True}
        else:
            data, rows = bytearray(), 0
            for piece, n in exports.copy_chunk(conn, export, scope, checkpoint["after"], upto, **schemas):
                data += piece
                rows += n
            export_files.append(conn, cfg.app_schema, job.id, checkpoint["seq"], bytes(data))
            checkpoint = {**checkpoint, "after": upto, "seq": checkpoint["seq"] + 1,
                          "rows": checkpoint["rows"] + rows, "bytes": checkpoint["bytes"] + len(data)}
        job.save_checkpoint(conn, checkpoint, done=checkpoint["rows"])
    return checkpoint
