"""Churn features per account, computed in one set-based statement as of a cut-off date.

Every feature reads only what Salesforce knew before the cut-off's midnight (UTC): orders with
EffectiveDate and CreatedDate before it, cases created before it (a case closed on or after the
cut-off counts as open), invoices due and created before it (paid on or after the cut-off counts as
unpaid). Nothing reads current-state fields that change later (an order's
Status, an invoice's Status__c), so features for a past cut-off are what scoring would have seen
on that day: that is what makes a time-based split honest (tests/test_scoring_model.py proves it).

The label is the prediction target: 1 when the account placed no order in [cut-off, cut-off + horizon).
"""

from datetime import date

import numpy as np
from psycopg import sql
from psycopg.rows import tuple_row

FEATURES: tuple[str, ...] = (
    "days_since_last_order",
    "days_since_first_order",
    "account_age_days",
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "orders_365d",
    "amount_30d",
    "amount_90d",
    "amount_180d",
    "amount_365d",
    "orders_trend_90d",
    "amount_trend_90d",
    "orders_trend_365d",
    "mean_gap_days",
    "recency_over_gap",
    "avg_order_value_365d",
    "cases_90d",
    "cases_365d",
    "open_cases",
    "invoices_365d",
    "late_invoice_share_365d",
    "overdue_invoices",
)

# One statement, shaped as a scoring chunk reads best: for each account of the range (in id order, by
# the primary key), one aggregate over its orders, one over its cases and one over its invoices, each
# an index-only range scan of a covering index (sql/connect_indexes.sql). No hash table or sort over
# the orders, no CTE kept in memory, and each table is read once for the chunk. The order items are not read: the
# product-mix features they gave carried almost nothing and cost half the statement (docs/scoring.md,
# "What a feature costs"). Accounts without an order before the cut-off have orders_all = 0 and are
# left out.
# Amounts are summed as whole cents (bigint; Salesforce's currency fields have two decimals, Connect
# stores them as double precision): exact, so a feature does not depend on the order a plan meets the
# rows, and without numeric arithmetic (which made the orders' aggregate five times slower).
# Every column is a double precision, the type the model reads and the one PACKED sends.
# Trends are log ratios of the window to the window before it (+1 on both sides), so 0 means flat and
# the sign says which way. An account with a single order has no gap between orders yet: its gap is
# its tenure, the longest it has gone quiet.
EXTRACT = """
SELECT a.id AS account_id,
       o.days_since_last_order::float8,
       o.days_since_first_order::float8,
       greatest(%(cutoff)s::date - a.createddate::date, 0)::float8 AS account_age_days,
       o.orders_30d::float8, o.orders_90d::float8, o.orders_180d::float8, o.orders_365d::float8,
       o.cents_30d / 100.0::float8 AS amount_30d, o.cents_90d / 100.0::float8 AS amount_90d,
       o.cents_180d / 100.0::float8 AS amount_180d, o.cents_365d / 100.0::float8 AS amount_365d,
       ln((1 + o.orders_90d) / (1.0::float8 + o.orders_prev_90d)) AS orders_trend_90d,
       ln((100 + o.cents_90d) / (100.0::float8 + o.cents_prev_90d)) AS amount_trend_90d,
       ln((1 + o.orders_365d) / (1.0::float8 + o.orders_prev_365d)) AS orders_trend_365d,
       g.mean_gap_days,
       o.days_since_last_order / greatest(g.mean_gap_days, 1.0) AS recency_over_gap,
       o.cents_365d / 100.0::float8 / greatest(o.orders_365d, 1) AS avg_order_value_365d,
       c.cases_90d::float8, c.cases_365d::float8, c.open_cases::float8,
       v.invoices_365d::float8,
       coalesce(v.late_365d::float8 / nullif(v.invoices_365d, 0), 0) AS late_invoice_share_365d,
       v.overdue::float8 AS overdue_invoices
  FROM {s}.account a
 CROSS JOIN LATERAL (
       SELECT %(cutoff)s::date - max(day) AS days_since_last_order,
              %(cutoff)s::date - min(day) AS days_since_first_order,
              count(*) AS orders_all,
              count(*) FILTER (WHERE day >= %(cutoff)s::date - 30) AS orders_30d,
              count(*) FILTER (WHERE day >= %(cutoff)s::date - 90) AS orders_90d,
              count(*) FILTER (WHERE day >= %(cutoff)s::date - 180) AS orders_180d,
              count(*) FILTER (WHERE day >= %(cutoff)s::date - 365) AS orders_365d,
              count(*) FILTER (WHERE day >= %(cutoff)s::date - 180 AND day < %(cutoff)s::date - 90) AS orders_prev_90d,
              count(*) FILTER (WHERE day >= %(cutoff)s::date - 730 AND day < %(cutoff)s::date - 365)
                  AS orders_prev_365d,
              coalesce(sum(cents) FILTER (WHERE day >= %(cutoff)s::date - 30), 0) AS cents_30d,
              coalesce(sum(cents) FILTER (WHERE day >= %(cutoff)s::date - 90), 0) AS cents_90d,
              coalesce(sum(cents) FILTER (WHERE day >= %(cutoff)s::date - 180), 0) AS cents_180d,
              coalesce(sum(cents) FILTER (WHERE day >= %(cutoff)s::date - 365), 0) AS cents_365d,
              coalesce(sum(cents) FILTER (WHERE day >= %(cutoff)s::date - 180 AND day < %(cutoff)s::date - 90), 0)
                  AS cents_prev_90d
         FROM (SELECT o.effectivedate AS day, round(o.totalamount * 100)::bigint AS cents
                 FROM {s}."order" o
                WHERE o.accountid = a.sfid AND o.effectivedate < %(cutoff)s AND o.createddate < %(cutoff)s::timestamp
                  AND o.isdeleted IS NOT TRUE) AS o
 ) AS o
 CROSS JOIN LATERAL (
       SELECT CASE WHEN o.orders_all > 1
                   THEN (o.days_since_first_order - o.days_since_last_order)::double precision / (o.orders_all - 1)
                   ELSE o.days_since_first_order END AS mean_gap_days
 ) AS g
 CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE k.createddate >= %(cutoff)s::timestamp - interval '90 days') AS cases_90d,
              count(*) FILTER (WHERE k.createddate >= %(cutoff)s::timestamp - interval '365 days') AS cases_365d,
              count(*) FILTER (WHERE k.closeddate IS NULL OR k.closeddate >= %(cutoff)s::timestamp) AS open_cases
         FROM {s}."case" k
        WHERE k.accountid = a.sfid AND k.createddate < %(cutoff)s::timestamp AND k.isdeleted IS NOT TRUE
 ) AS c
 CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE v.due_date__c >= %(cutoff)s::date - 365) AS invoices_365d,
              count(*) FILTER (WHERE v.due_date__c >= %(cutoff)s::date - 365
                                 AND (v.paid_date__c IS NULL OR v.paid_date__c >= %(cutoff)s
                                      OR v.paid_date__c > v.due_date__c)) AS late_365d,
              count(*) FILTER (WHERE v.paid_date__c IS NULL OR v.paid_date__c >= %(cutoff)s) AS overdue
         FROM {s}.invoice__c v
        WHERE v.account__c = a.sfid AND v.due_date__c < %(cutoff)s AND v.createddate < %(cutoff)s::timestamp
          AND v.isdeleted IS NOT TRUE
 ) AS v
 WHERE {accounts} AND o.orders_all > 0
 ORDER BY a.id
"""

# Accounts with order history before the cut-off, and whether they ordered in the horizon after it.
LABELS = """
SELECT a.id AS account_id,
       NOT EXISTS (SELECT 1 FROM {s}."order" f
                    WHERE f.accountid = a.sfid AND NOT coalesce(f.isdeleted, false)
                      AND f.effectivedate >= %(cutoff)s
                      AND f.effectivedate < %(cutoff)s::date + %(horizon)s::integer) AS churned
  FROM {s}.account a
 WHERE {accounts}
   AND EXISTS (SELECT 1 FROM {s}."order" o
                WHERE o.accountid = a.sfid AND NOT coalesce(o.isdeleted, false)
                  AND o.effectivedate < %(cutoff)s AND o.createddate < %(cutoff)s::timestamp)
 ORDER BY a.id
"""


# EXTRACT's rows leave packed: each account's features as one bytea of big-endian doubles (float8send
# writes a double in its binary wire format), so a chunk is read into numpy in one call instead of a
# Python float per value — that took two thirds of the worker's time reading a chunk.
PACKED = "SELECT f.account_id, {packed} AS features FROM ({extract}) AS f ORDER BY f.account_id"


def _accounts(account_ids: list[int] | None, id_range: tuple[int | None, int | None] | None) -> sql.Composable:
    """The account filter: every account, those whose Connect row id is in the list, or in [lo, hi)."""
    if account_ids is not None:
        return sql.SQL("a.id = ANY({})").format(sql.Literal(list(account_ids)))
    lo, hi = id_range or (None, None)
    bounds = [sql.SQL("a.id >= {}").format(sql.Literal(int(lo))) if lo is not None else None,
              sql.SQL("a.id < {}").format(sql.Literal(int(hi))) if hi is not None else None]
    return sql.SQL(" AND ").join([b for b in bounds if b is not None] or [sql.SQL("true")])


def _query(text: str, cfg, account_ids, id_range=None) -> sql.Composed:
    return sql.SQL(text).format(s=sql.Identifier(cfg.connect_schema), accounts=_accounts(account_ids, id_range))


def extract(conn, cfg, cutoff: date, *, account_ids: list[int] | None = None,
            id_range: tuple[int | None, int | None] | None = None) -> tuple[list[int], np.ndarray]:
    """Ids (`salesforce.account.id`) of accounts with order history before `cutoff`, and their FEATURES.

    All such accounts, or those of `account_ids`, or those with `lo <= id < hi` for `id_range=(lo, hi)`
    (None: open on that side) — a scoring chunk's range, read by index range scans.
    """
    packed = sql.SQL(" || ").join(sql.SQL("float8send(f.{})").format(sql.Identifier(name)) for name in FEATURES)
    query = sql.SQL(PACKED).format(packed=packed, extract=_query(EXTRACT, cfg, account_ids, id_range))
    with conn.cursor(row_factory=tuple_row, binary=True) as cur:
        rows = cur.execute(query, {"cutoff": cutoff}).fetchall()
    if any(r[1] is None for r in rows):
        raise ValueError("a feature came back NULL")  # EXTRACT's coalesces make this a bug in EXTRACT
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=">f8").reshape(len(rows), len(FEATURES))
    return [r[0] for r in rows], matrix.astype(np.float64)


def labels(conn, cfg, cutoff: date, horizon_days: int = 60, account_ids: list[int] | None = None) -> dict[int, int]:
    """1 for each account with history before `cutoff` that placed no order in [cutoff, cutoff + horizon_days)."""
    rows = conn.execute(_query(LABELS, cfg, account_ids), {"cutoff": cutoff, "horizon": horizon_days})
    return {r["account_id"]: int(r["churned"]) for r in rows}
