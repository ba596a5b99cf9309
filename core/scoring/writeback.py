"""The churn risk written back to Salesforce through Connect: three Account columns, changed-only.

The app writes `churn_risk__c`, `churn_risk_band__c` and `churn_risk_scored_at__c` of
`salesforce.account` and nothing else; Connect's triggers log each update and Connect sends it to
Salesforce (the Account mapping is read-write for these fields, docs/scoring.md). Only rows that
have an sfid are updated (the app never inserts accounts, so the mapping needs no upsert field),
and only when the score moved by at least MIN_MOVE points or its band changed: every row written
is a row Connect must send, so a rerun with the same model writes nothing.
"""

from psycopg import sql

# The columns the app writes, and the only ones (tests/test_scoring_runs.py compares every other column).
COLUMNS = ("churn_risk__c", "churn_risk_band__c", "churn_risk_scored_at__c")
MIN_MOVE = 1.0  # points on the 0–100 scale; a smaller move is noise nobody in sales acts on
# Band edges on the 0–100 scale: High from 60, Medium from 30, Low below.
BANDS = (("High", 60.0), ("Medium", 30.0), ("Low", 0.0))

# One set-based statement per chunk: the scores arrive as two arrays, the band is computed beside
# them, and the WHERE clause both keeps Postgres-only rows out (sfid) and skips unchanged scores,
# so the triggers run — and the trigger log grows — only for rows Salesforce must receive.
WRITE = """
WITH scored AS (
    SELECT s.id, s.score,
           CASE WHEN s.score >= %(high)s THEN 'High' WHEN s.score >= %(medium)s THEN 'Medium' ELSE 'Low' END AS band
      FROM unnest(%(ids)s::integer[], %(scores)s::double precision[]) AS s(id, score)
)
UPDATE {connect}.account a
   SET churn_risk__c = s.score, churn_risk_band__c = s.band, churn_risk_scored_at__c = %(scored_at)s
  FROM scored s
 WHERE a.id = s.id
   AND a.sfid IS NOT NULL
   AND (a.churn_risk__c IS NULL OR abs(a.churn_risk__c - s.score) >= %(min_move)s
        OR a.churn_risk_band__c IS DISTINCT FROM s.band)
"""


def band(score: float) -> str:
    """The band of a 0–100 score (the same edges WRITE uses)."""
    return next(name for name, low in BANDS if score >= low)


def write(conn, cfg, scores: dict[int, float], scored_at) -> int:
    """Write the scores that changed (account id → 0–100) with their band and time; return rows written.

    `scored_at` is a naive UTC datetime (Connect's timestamp columns have no time zone). Runs in the
    caller's transaction, so the write commits or rolls back with the chunk it belongs to.
    """
    if not scores:
        return 0
    ids = list(scores)
    params = {"ids": ids, "scores": [float(scores[i]) for i in ids], "scored_at": scored_at,
              "min_move": MIN_MOVE, "high": BANDS[0][1], "medium": BANDS[1][1]}
    query = sql.SQL(WRITE).format(connect=sql.Identifier(cfg.connect_schema))
    return conn.execute(query, params).rowcount
