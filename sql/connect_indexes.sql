-- Indexes on Connect tables that the mapping file cannot express (it declares single-field indexes
-- only). Runs on every release: idempotent, named app_idx_* so nobody mistakes them for Connect's,
-- and skipped while Connect has not created the table yet.
-- Each one says which query needs it.
DO $$
BEGIN
    NULL;
END
$$;
