-- Sync lag per sample (docs/sync-console.md): seconds since the mapping last synced, i.e. since the
-- newer of its latest change from Salesforce (max systemmodstamp) and its latest write Connect
-- confirmed (processed_at of an archived SUCCESS row). NULL when the mapping never synced.
-- A new column rather than an edit of 0400: a migration that has run anywhere is never changed.
ALTER TABLE {app_schema}.sync_health_samples ADD COLUMN lag_s double precision;
