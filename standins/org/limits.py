"""The org's limits: what `limits/` reports, each counted where the org does the counting.

Salesforce counts its "daily" allowances over a rolling 24 hours; so does the org, in hourly
buckets (`usage`: one row per limit and hour). A maximum can be changed per org in its settings
(`limit:<Name>`), which is how tests and `LOCAL_ORG_DAILY_API_LIMIT` make a limit small.

Where each counted limit is counted:
- DailyApiRequests: every /services/data and /services/apexrest call (standins/org/api/common.py);
- DailyBulkApiBatches: every Bulk API 1.0 batch (standins/org/api/bulk1.py) and every 10,000 records
  a Bulk API 2.0 ingest job processes (standins/org/api/bulk2.py);
- DailyBulkV2QueryJobs and DailyBulkV2QueryFileStorageMB: every Bulk API 2.0 query job and the
  results it stores (standins/org/api/bulk2.py);
- DataStorageMB: 2 KB a live record, as Salesforce counts most records.
The rest of the standard set is reported at its maximum: nothing in the local org spends it.
"""

from psycopg import sql

from standins.org import store

# The standard limit keys with a Developer Edition org's maximums.
MAXIMUMS = {
    "ActiveScratchOrgs": 3,
    "AnalyticsExternalDataSizeMB": 40960,
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentEinsteinDataInsightsStoryCreation": 5,
    "ConcurrentEinsteinDiscoveryStoryCreation": 2,
    "ConcurrentSyncReportRuns": 20,
    "DailyAnalyticsDataflowJobExecutions": 60,
    "DailyAnalyticsUploadedFilesSizeMB": 51200,
    "DailyApiRequests": 15000,
    "DailyAsyncApexExecutions": 250000,
    "DailyAsyncApexTests": 500,
    "DailyBulkApiBatches": 15000,
    "DailyBulkV2QueryFileStorageMB": 976562,
    "DailyBulkV2QueryJobs": 10000,
    "DailyDeliveredPlatformEvents": 10000,
    "DailyDurableGenericStreamingApiEvents": 10000,
    "DailyDurableStreamingApiEvents": 10000,
    "DailyEinsteinDataInsightsStoryCreation": 1000,
    "DailyEinsteinDiscoveryPredictAPICalls": 50000,
    "DailyEinsteinDiscoveryPredictionsByCDC": 500000,
    "DailyEinsteinDiscoveryStoryCreation": 100,
    "DailyFunctionsApiCallLimit": 235000,
    "DailyGenericStreamingApiEvents": 10000,
    "DailyScratchOrgs": 6,
    "DailyStandardVolumePlatformEvents": 10000,
    "DailyStreamingApiEvents": 10000,
    "DailyWorkflowEmails": 1000,
    "DataStorageMB": 5,
    "DurableStreamingApiConcurrentClients": 20,
    "FileStorageMB": 20,
    "HourlyAsyncReportRuns": 1200,
    "HourlyDashboardRefreshes": 200,
    "HourlyDashboardResults": 5000,
    "HourlyDashboardStatuses": 999999999,
    "HourlyLongTermIdMapping": 100000,
    "HourlyManagedContentPublicRequests": 50000,
    "HourlyODataCallout": 10000,
    "HourlyPublishedPlatformEvents": 50000,
    "HourlyPublishedStandardVolumePlatformEvents": 1000,
    "HourlyShortTermIdMapping": 100000,
    "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 50,
    "MassEmail": 10,
    "MonthlyEinsteinDiscoveryStoryCreation": 500,
    "MonthlyPlatformEventsUsageEntitlement": 0,
    "Package2VersionCreates": 6,
    "Package2VersionCreatesWithoutValidation": 500,
    "PermissionTypes": 0,
    "PrivateConnectOutboundCalloutHourlyLimitMB": 0,
    "PublishCallbackUsageInApex": 5,
    "SingleEmail": 15,
    "StreamingApiConcurrentClients": 20,
}
COUNTED = ("DailyApiRequests", "DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DailyBulkV2QueryFileStorageMB")
RECORD_KB = 2

SETTING_PREFIX = "limit:"
# One bucket per limit and hour; a count is the sum of the last 24 buckets.
COUNT = """
INSERT INTO {s}.usage AS u (name, hour, used) VALUES (%(name)s, date_trunc('hour', now() AT TIME ZONE 'UTC'), %(n)s)
ON CONFLICT (name, hour) DO UPDATE SET used = u.used + EXCLUDED.used
"""
USED = """
SELECT coalesce(sum(used), 0)::bigint AS used FROM {s}.usage
 WHERE name = %(name)s AND hour > now() AT TIME ZONE 'UTC' - interval '24 hours'
"""
# The limit's use and its maximum (the org's setting, if any) in one round trip.
USAGE = """
SELECT (SELECT coalesce(sum(used), 0)::bigint FROM {s}.usage
         WHERE name = %(name)s AND hour > now() AT TIME ZONE 'UTC' - interval '24 hours') AS used,
       (SELECT value FROM {s}.settings WHERE key = %(key)s) AS maximum
"""
# Count against the limit and read its use and maximum, in one statement. The outer SELECT sees the
# table as it was before the INSERT, so the hour just counted comes from RETURNING, the others from the table.
SPEND = """
WITH counted AS (
    INSERT INTO {s}.usage AS u (name, hour, used)
    VALUES (%(name)s, date_trunc('hour', now() AT TIME ZONE 'UTC'), %(n)s)
    ON CONFLICT (name, hour) DO UPDATE SET used = u.used + EXCLUDED.used
    RETURNING hour, used
)
SELECT (SELECT used FROM counted)
       + (SELECT coalesce(sum(used), 0) FROM {s}.usage
           WHERE name = %(name)s AND hour > now() AT TIME ZONE 'UTC' - interval '24 hours'
             AND hour <> (SELECT hour FROM counted))::bigint AS used,
       (SELECT value FROM {s}.settings WHERE key = %(key)s) AS maximum
"""
USED_ALL = """
SELECT name, coalesce(sum(used), 0)::bigint AS used FROM {s}.usage
 WHERE hour > now() AT TIME ZONE 'UTC' - interval '24 hours' GROUP BY name
"""
FORGET = "DELETE FROM {s}.usage WHERE name = %(name)s"
SET_MAXIMUMS = "SELECT key, value FROM {s}.settings WHERE key LIKE %(prefix)s"
LIVE_RECORDS = "SELECT count(*) AS n FROM {s}.records WHERE NOT is_deleted"


def _q(statement: str, schema: str) -> sql.Composed:
    return sql.SQL(statement).format(s=sql.Identifier(schema))


def maximum(conn, schema: str, name: str) -> int:
    """The limit's maximum in this org (its setting, else the standard figure)."""
    row = conn.execute(sql.SQL(store.GET_SETTING).format(sql.Identifier(schema)), (SETTING_PREFIX + name,)).fetchone()
    return int(row["value"]) if row else MAXIMUMS[name]


def set_maximum(conn, schema: str, name: str, value: int, *, overwrite: bool = True) -> None:
    """Change a limit's maximum (keep an existing setting when overwrite is False)."""
    key, value = SETTING_PREFIX + name, str(value)
    if overwrite:
        conn.execute(sql.SQL(store.SET_SETTING).format(sql.Identifier(schema)), (key, value, value))
    else:
        conn.execute(sql.SQL(store.ADD_SETTING).format(sql.Identifier(schema)), (key, value))


def used(conn, schema: str, name: str) -> int:
    """How much of the limit the last 24 hours spent."""
    return conn.execute(_q(USED, schema), {"name": name}).fetchone()["used"]


def _answer(row, name: str) -> tuple[int, int]:
    return int(row["used"]), int(row["maximum"]) if row["maximum"] is not None else MAXIMUMS[name]


def usage(conn, schema: str, name: str) -> tuple[int, int]:
    """(used in the last 24 hours, maximum) of one limit."""
    row = conn.execute(_q(USAGE, schema), {"name": name, "key": SETTING_PREFIX + name}).fetchone()
    return _answer(row, name)


def spend(conn, schema: str, name: str, n: int = 1) -> tuple[int, int]:
    """Count `n` against the limit; return (used in the last 24 hours, maximum)."""
    row = conn.execute(_q(SPEND, schema), {"name": name, "n": n, "key": SETTING_PREFIX + name}).fetchone()
    return _answer(row, name)


def set_used(conn, schema: str, name: str, value: int) -> None:
    """Pretend the last 24 hours spent exactly `value` (tests; "the window has moved on")."""
    conn.execute(_q(FORGET, schema), {"name": name})
    if value:
        conn.execute(_q(COUNT, schema), {"name": name, "n": value})


def report(conn, schema: str) -> dict:
    """`limits/`: every standard key as {"Max", "Remaining"}."""
    spent = {r["name"]: r["used"] for r in conn.execute(_q(USED_ALL, schema))}
    records = conn.execute(_q(LIVE_RECORDS, schema)).fetchone()["n"]
    spent["DataStorageMB"] = (records * RECORD_KB + 1023) // 1024
    changed = {r["key"].removeprefix(SETTING_PREFIX): int(r["value"])
               for r in conn.execute(_q(SET_MAXIMUMS, schema), {"prefix": SETTING_PREFIX + "%"})}
    out = {}
    for name, standard in MAXIMUMS.items():
        top = changed.get(name, standard)
        out[name] = {"Max": top, "Remaining": max(top - spent.get(name, 0), 0)}
    return out
