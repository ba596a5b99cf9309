-- Rate-limit counters while Redis is down (core/rate_limits.py): logging in keeps working and keeps
-- being limited during a Redis outage. Unlogged: counters are worth nothing after a crash, and
-- unlogged writes skip the WAL. Rows whose window has closed are deleted as new attempts arrive.
CREATE UNLOGGED TABLE {app_schema}.rate_limit_hits (
    key text PRIMARY KEY,
    count integer NOT NULL,
    window_ends timestamptz NOT NULL
);
