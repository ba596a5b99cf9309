-- Batch invoicing records what a run costs the sync, not an "API bill" (docs/batch-invoicing.md,
-- "What a run costs, up front"). Connect's SOAP calls do not count toward the org's API request
-- limit, so the remaining daily API calls never bound a run: what binds is the plan's row cap, the
-- org's daily Bulk API batches (only on the bulk path) and the time the writes take to drain.

-- Same figure, honest name: ⌈invoices / 200⌉ SOAP calls (0 when the writes go through the Bulk API).
ALTER TABLE {app_schema}.invoice_runs RENAME COLUMN api_estimate TO soap_calls_estimate;
-- It held "API calls left today", a number that does not bind Connect's writes.
ALTER TABLE {app_schema}.invoice_runs DROP COLUMN api_budget;

ALTER TABLE {app_schema}.invoice_runs
    -- rows in every mapped table when the run started, and at most how many it adds
    ADD COLUMN synced_rows_before     bigint,
    ADD COLUMN rows_added_estimate    integer NOT NULL DEFAULT 0,
    -- the plan's cap on synced rows across all mappings (NULL: none known, e.g. enterprise)
    ADD COLUMN row_cap                integer,
    -- Bulk API batches the writes take under Ordered Writes, and what the org's limits/ said was left
    ADD COLUMN bulk_batches_estimate  integer NOT NULL DEFAULT 0,
    ADD COLUMN bulk_batches_remaining integer,
    -- about how long Connect needs to send every waiting write, the run's included
    ADD COLUMN drain_seconds_estimate double precision;
