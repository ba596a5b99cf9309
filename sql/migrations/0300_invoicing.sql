-- Batch invoicing (docs/batch-invoicing.md): runs, their chunks, and the ledger of billed orders.
-- All three live in the app schema: Connect never touches them, and a Connect reload cannot lose them.

-- One row per invoicing run for a billing period ('YYYY-MM').
CREATE TABLE {app_schema}.invoice_runs (
    id                bigserial PRIMARY KEY,
    period            text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    -- queued: chunks being planned/enqueued; running: chunks in the queue; finished / failed: final.
    state             text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'finished', 'failed')),
    chunks_total      integer NOT NULL DEFAULT 0,
    chunks_done       integer NOT NULL DEFAULT 0,
    orders_invoiced   bigint NOT NULL DEFAULT 0,
    invoices_created  integer NOT NULL DEFAULT 0,
    invoices_amended  integer NOT NULL DEFAULT 0,
    amount_total      numeric(18, 2) NOT NULL DEFAULT 0,
    -- What the run planned to do, measured before it started (the API bill up front).
    orders_estimate   bigint NOT NULL DEFAULT 0,
    api_estimate      integer NOT NULL DEFAULT 0,
    api_budget        integer,
    tax_rate          numeric(6, 4) NOT NULL,
    due_days          integer NOT NULL,
    forced            boolean NOT NULL DEFAULT false,
    started_by        text NOT NULL DEFAULT 'cli',
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    error             text
);

-- At most one active run per period: a second start fails on this index and is refused with a clear message.
CREATE UNIQUE INDEX invoice_runs_one_active_per_period ON {app_schema}.invoice_runs (period)
    WHERE state IN ('queued', 'running');
CREATE INDEX invoice_runs_started_at ON {app_schema}.invoice_runs (started_at DESC);

-- A chunk is a range of account sfids [account_lo, account_hi); NULL means open-ended, so the chunks of a
-- run cover every possible account id, including accounts that appear after planning.
CREATE TABLE {app_schema}.invoice_run_chunks (
    run_id            bigint NOT NULL REFERENCES {app_schema}.invoice_runs (id) ON DELETE CASCADE,
    chunk             integer NOT NULL,
    account_lo        varchar(18),
    account_hi        varchar(18),
    state             text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    orders            integer NOT NULL DEFAULT 0,
    invoices_created  integer NOT NULL DEFAULT 0,
    invoices_amended  integer NOT NULL DEFAULT 0,
    amount            numeric(18, 2) NOT NULL DEFAULT 0,
    started_at        timestamptz,
    finished_at       timestamptz,
    error             text,
    PRIMARY KEY (run_id, chunk)
);

-- The ledger: which order went into which invoice. The primary key on order_sfid is what makes
-- "never bill an order twice" a database guarantee rather than a hope.
CREATE TABLE {app_schema}.invoice_lines (
    order_sfid           varchar(18) PRIMARY KEY,
    invoice_external_id  varchar(64) NOT NULL,
    account_sfid         varchar(18) NOT NULL,
    period               text NOT NULL,
    amount               numeric(18, 2) NOT NULL,
    run_id               bigint NOT NULL,
    chunk                integer NOT NULL,
    billed_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_lines_invoice ON {app_schema}.invoice_lines (invoice_external_id);
