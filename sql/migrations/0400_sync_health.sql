-- The sync health console's history (docs/sync-console.md): a sample of every mapping's backlog,
-- oldest waiting change and write errors, taken every minute or so, kept for a week.
-- Connect keeps no history of its own in Postgres, so the app records what it observes.
CREATE TABLE {app_schema}.sync_health_samples (
    taken_at               timestamptz NOT NULL DEFAULT now(),
    object_name            text NOT NULL,
    backlog                integer NOT NULL,
    oldest_pending_age_s   double precision,
    failed                 integer NOT NULL,
    PRIMARY KEY (object_name, taken_at)
);
CREATE INDEX sync_health_samples_taken_at ON {app_schema}.sync_health_samples (taken_at);
