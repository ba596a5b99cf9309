-- Long work: one row per background job, and the files export jobs write.
-- Every dyno reads job status from here (never from process memory or only from Redis), so a
-- status page works on any web dyno and survives restarts of web, worker and Redis alike.

CREATE TABLE {app_schema}.jobs (
    -- Derived from kind + owner + parameters (core/jobs.py: job_id), and also the RQ job id:
    -- a second click on the same button finds this row instead of starting a second run.
    id           text PRIMARY KEY,
    kind         text NOT NULL,
    -- Who may see it: a portal user id, or 'ops'.
    owner        text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'started', 'finished', 'failed')),
    done         bigint NOT NULL DEFAULT 0,
    total        bigint,
    -- Units per second during the current attempt (rows/s for exports).
    rate         double precision,
    -- How many times a worker has started it (more than one: it was interrupted and retried).
    attempts     integer NOT NULL DEFAULT 0,
    -- What a retry needs to continue where the last attempt stopped; written in the same
    -- transaction as the work it describes, so work and checkpoint never disagree.
    checkpoint   jsonb,
    error        text,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX jobs_owner_created_idx ON {app_schema}.jobs (owner, created_at DESC);

-- A file a job produced (CSV exports), kept in Postgres because a dyno's disk is ephemeral and
-- private to it: the worker that writes the file and the web dyno that serves it are different machines.
CREATE TABLE {app_schema}.export_files (
    job_id        text PRIMARY KEY REFERENCES {app_schema}.jobs (id) ON DELETE CASCADE,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    rows          bigint NOT NULL DEFAULT 0,
    bytes         bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- NULL while the job is still writing; a download is refused (410) after this.
    expires_at    timestamptz
);
CREATE INDEX export_files_expires_idx ON {app_schema}.export_files (expires_at);

-- The file's bytes in chunks of a few MB: written one chunk per transaction (resumable, and no
-- single huge bytea in memory), read back one chunk at a time (flat memory on the web dyno).
CREATE TABLE {app_schema}.export_file_chunks (
    job_id  text NOT NULL REFERENCES {app_schema}.export_files (job_id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (job_id, seq)
);
-- Already compressed data would not shrink; CSV does, but TOAST's pglz on multi-MB values costs
-- more CPU than it saves here. EXTERNAL stores them out of line without compression.
ALTER TABLE {app_schema}.export_file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- A spreadsheet runs a cell that starts with = + - @ (or a tab/CR) as a formula ("CSV injection").
-- Free text that came from Salesforce users goes through this before it lands in a CSV export.
CREATE FUNCTION {app_schema}.csv_text(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN value ~ '^[=+@\t\r-]' THEN '''' || value ELSE value END $$;
