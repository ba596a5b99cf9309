-- Scoring runs (docs/scoring.md, "Running the scores"): a nightly run scores every account with order
-- history and writes the churn risk back to salesforce.account, chunk by chunk, each chunk exactly once.
-- Both tables live in the app schema: Connect never touches them, and a Connect reload cannot lose them.

CREATE TABLE {app_schema}.scoring_runs (
    id                bigserial PRIMARY KEY,
    model_version     integer NOT NULL,              -- app.scoring_models.version the run scores with
    -- queued: chunks being planned/enqueued; running: chunks in the queue; finished / failed: final.
    state             text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'finished', 'failed')),
    as_of             date NOT NULL,                 -- the features' cut-off: nothing on or after it is read
    scored_at         timestamptz NOT NULL,          -- Churn_Risk_Scored_At__c of every row this run writes
    chunks_total      integer NOT NULL DEFAULT 0,
    chunks_done       integer NOT NULL DEFAULT 0,
    accounts_scored   integer NOT NULL DEFAULT 0,
    rows_written      integer NOT NULL DEFAULT 0,
    -- The score distribution of the run, 20 bins of 5 points (0-5, 5-10, … 95-100): drift shows here.
    histogram         integer[] NOT NULL DEFAULT array_fill(0, ARRAY[20]),
    -- What the run planned to do, measured before it started (the sync cost up front).
    accounts_estimate integer NOT NULL DEFAULT 0,
    writes_estimate   integer NOT NULL DEFAULT 0,
    started_by        text NOT NULL DEFAULT 'cli',
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    error             text
);

-- At most one active run: a second start fails on this index and is refused with a clear message.
CREATE UNIQUE INDEX scoring_runs_one_active ON {app_schema}.scoring_runs ((true)) WHERE state IN ('queued', 'running');
CREATE INDEX scoring_runs_started_at ON {app_schema}.scoring_runs (started_at DESC);

-- A chunk is a range of salesforce.account ids [id_lo, id_hi); NULL means open-ended, so the chunks of a run
-- cover every account, including accounts synced after planning.
CREATE TABLE {app_schema}.scoring_run_chunks (
    run_id            bigint NOT NULL REFERENCES {app_schema}.scoring_runs (id) ON DELETE CASCADE,
    chunk             integer NOT NULL,
    id_lo             integer,
    id_hi             integer,
    state             text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    accounts          integer NOT NULL DEFAULT 0,
    written           integer NOT NULL DEFAULT 0,
    started_at        timestamptz,
    finished_at       timestamptz,
    error             text,
    PRIMARY KEY (run_id, chunk)
);
