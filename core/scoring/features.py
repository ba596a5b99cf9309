"""Churn features per account, computed in one set-based statement as of a cut-off date.

Every feature reads only what Salesforce knew before the cut-off's midnight (UTC): orders with
EffectiveDate and CreatedDate before it, their items created before it, cases created before it
(a case closed on or after the cut-off counts as open), invoices due before it (paid on or after
the cut-off counts as unpaid). Nothing reads current-state fields that change later (an order's
Status, an invoice's Status__c), so features for a past cut-off are what scoring would have seen
on that day: that is what makes a time-based split honest (tests/test_scoring_model.py proves it).

The label is the prediction target: 1 when the account placed no order in [cut-off, cut-off + horizon).
"""

from datetime import date

import numpy as np
from psycopg import sql

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
    "items_per_order_365d",
    "distinct_products_365d",
    "share_hardware_365d",
    "share_software_365d",
    "share_services_365d",
    "share_supplies_365d",
    "cases_90d",
    "cases_365d",
    "open_cases",
    "invoices_365d",
    "late_invoice_share_365d",
    "overdue_invoices",
)

# One statement, so Postgres aggregates each table once. Amounts are summed as numeric: exact, so a
# feature does not depend on the order a plan (parallel or not, a chunk or all accounts) meets the rows.
# Trends are log ratios of the window to the window before it (+1 on both sides), so 0 means flat and
# the sign says which way. An account with a single order has no gap between orders yet: its gap is
# its tenure, the longest it has gone quiet.
EXTRACT = """
WITH orders AS (
    SELECT a.id AS account_id, o.sfid, o.effectivedate AS day, coalesce(o.totalamount, 0)::numeric AS amount
      FROM {s}.account a
      JOIN {s}."order" o ON o.accountid = a.sfid
     WHERE o.effectivedate < %(cutoff)s AND o.createddate < %(cutoff)s::timestamp
       AND o.isdeleted IS NOT TRUE AND {accounts}
), per_account AS (
    SELECT account_id,
           %(cutoff)s::date - max(day) AS days_since_last_order,
           %(cutoff)s::date - min(day) AS days_since_first_order,
           count(*) AS orders_all,
           count(*) FILTER (WHERE day >= %(cutoff)s::date - 30) AS orders_30d,
           count(*) FILTER (WHERE day >= %(cutoff)s::date - 90) AS orders_90d,
           count(*) FILTER (WHERE day >= %(cutoff)s::date - 180) AS orders_180d,
           count(*) FILTER (WHERE day >= %(cutoff)s::date - 365) AS orders_365d,
           count(*) FILTER (WHERE day >= %(cutoff)s::date - 180 AND day < %(cutoff)s::date - 90) AS orders_prev_90d,
           count(*) FILTER (WHERE day >= %(cutoff)s::date - 730 AND day < %(cutoff)s::date - 365) AS orders_prev_365d,
           coalesce(sum(amount) FILTER (WHERE day >= %(cutoff)s::date - 30), 0) AS amount_30d,
           coalesce(sum(amount) FILTER (WHERE day >= %(cutoff)s::date - 90), 0) AS amount_90d,
           coalesce(sum(amount) FILTER (WHERE day >= %(cutoff)s::date - 180), 0) AS amount_180d,
           coalesce(sum(amount) FILTER (WHERE day >= %(cutoff)s::date - 365), 0) AS amount_365d,
           coalesce(sum(amount) FILTER (WHERE day >= %(cutoff)s::date - 180
                                          AND day < %(cutoff)s::date - 90), 0) AS amount_prev_90d
      FROM orders
     GROUP BY account_id
), bought AS (
    -- per account and product first: both steps hash-aggregate, where count(DISTINCT) would sort every item
    SELECT o.account_id, i.product2id, count(*) AS items, sum(i.totalprice::numeric) AS amount
      FROM (SELECT * FROM orders WHERE day >= %(cutoff)s::date - 365 ORDER BY sfid) o
      JOIN {s}.orderitem i ON i.orderid = o.sfid
     WHERE i.createddate < %(cutoff)s::timestamp
       AND i.isdeleted IS NOT TRUE
     GROUP BY o.account_id, i.product2id
), mix AS (
    SELECT b.account_id,
           sum(b.items) AS items,
           count(*) AS distinct_products,
           sum(b.amount) FILTER (WHERE p.family = 'Hardware') / nullif(sum(b.amount), 0) AS hardware,
           sum(b.amount) FILTER (WHERE p.family = 'Software') / nullif(sum(b.amount), 0) AS software,
           sum(b.amount) FILTER (WHERE p.family = 'Services') / nullif(sum(b.amount), 0) AS services,
           sum(b.amount) FILTER (WHERE p.family = 'Supplies') / nullif(sum(b.amount), 0) AS supplies
      FROM bought b
      JOIN {s}.product2 p ON p.sfid = b.product2id
     GROUP BY b.account_id
), cases AS (
    SELECT a.id AS account_id,
           count(*) FILTER (WHERE k.createddate >= %(cutoff)s::timestamp - interval '90 days') AS cases_90d,
           count(*) FILTER (WHERE k.createddate >= %(cutoff)s::timestamp - interval '365 days') AS cases_365d,
           count(*) FILTER (WHERE k.closeddate IS NULL OR k.closeddate >= %(cutoff)s::timestamp) AS open_cases
      FROM {s}."case" k
      JOIN {s}.account a ON a.sfid = k.accountid
     WHERE k.createddate < %(cutoff)s::timestamp AND k.isdeleted IS NOT TRUE AND {accounts}
     GROUP BY a.id
), invoices AS (
    SELECT a.id AS account_id,
           count(*) FILTER (WHERE v.due_date__c >= %(cutoff)s::date - 365) AS invoices_365d,
           count(*) FILTER (WHERE v.due_date__c >= %(cutoff)s::date - 365
                              AND (v.paid_date__c IS NULL OR v.paid_date__c >= %(cutoff)s
                                   OR v.paid_date__c > v.due_date__c)) AS late_365d,
           count(*) FILTER (WHERE v.paid_date__c IS NULL OR v.paid_date__c >= %(cutoff)s) AS overdue
      FROM {s}.invoice__c v
      JOIN {s}.account a ON a.sfid = v.account__c
     WHERE v.due_date__c < %(cutoff)s AND v.createddate < %(cutoff)s::timestamp
       AND v.isdeleted IS NOT TRUE AND {accounts}
     GROUP BY a.id
)
SELECT p.account_id,
       p.days_since_last_order,
       p.days_since_first_order,
       greatest(%(cutoff)s::date - a.createddate::date, 0) AS account_age_days,
       p.orders_30d, p.orders_90d, p.orders_180d, p.orders_365d,
       p.amount_30d, p.amount_90d, p.amount_180d, p.amount_365d,
       ln((1 + p.orders_90d) / (1.0 + p.orders_prev_90d)) AS orders_trend_90d,
       ln((1 + p.amount_90d) / (1.0 + p.amount_prev_90d)) AS amount_trend_90d,
       ln((1 + p.orders_365d) / (1.0 + p.orders_prev_365d)) AS orders_trend_365d,
       g.mean_gap_days,
       p.days_since_last_order / greatest(g.mean_gap_days, 1.0) AS recency_over_gap,
       p.amount_365d / greatest(p.orders_365d, 1) AS avg_order_value_365d,
       coalesce(m.items::double precision / nullif(p.orders_365d, 0), 0) AS items_per_order_365d,
       coalesce(m.distinct_products, 0) AS distinct_products_365d,
       coalesce(m.hardware, 0) AS share_hardware_365d,
       coalesce(m.software, 0) AS share_software_365d,
       coalesce(m.services, 0) AS share_services_365d,
       coalesce(m.supplies, 0) AS share_supplies_365d,
       coalesce(c.cases_90d, 0) AS cases_90d,
       coalesce(c.cases_365d, 0) AS cases_365d,
       coalesce(c.open_cases, 0) AS open_cases,
       coalesce(v.invoices_365d, 0) AS invoices_365d,
       coalesce(v.late_365d::double precision / nullif(v.invoices_365d, 0), 0) AS late_invoice_share_365d,
       coalesce(v.overdue, 0) AS overdue_invoices
  FROM per_account p
  JOIN {s}.account a ON a.id = p.account_id AND {accounts}
 CROSS JOIN LATERAL (
       SELECT CASE WHEN p.orders_all > 1
                   THEN (p.days_since_first_order - p.days_since_last_order)::double precision / (p.orders_all - 1)
                   ELSE p.days_since_first_order END AS mean_gap_days
 ) AS g
  LEFT JOIN mix m ON m.account_id = p.account_id
  LEFT JOIN cases c ON c.account_id = p.account_id
  LEFT JOIN invoices v ON v.account_id = p.account_id
 ORDER BY p.account_id
"""

WORK_MEM = "SET LOCAL work_mem = '64MB'"

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
    with conn.transaction():
        # The aggregates over a million orders fit in memory with this much; at the default 4 MB they spill to disk.
        conn.execute(WORK_MEM)
        rows = conn.execute(_query(EXTRACT, cfg, account_ids, id_range), {"cutoff": cutoff}).fetchall()
    ids = [r["account_id"] for r in rows]
    matrix = np.array([[float(r[name]) for name in FEATURES] for r in rows], dtype=np.float64)
    return ids, matrix.reshape(len(rows), len(FEATURES))


def labels(conn, cfg, cutoff: date, horizon_days: int = 60, account_ids: list[int] | None = None) -> dict[int, int]:
    """1 for each account with history before `cutoff` that placed no order in [cutoff, cutoff + horizon_days)."""
    rows = conn.execute(_query(LABELS, cfg, account_ids), {"cutoff": cutoff, "horizon": horizon_days})
    return {r["account_id"]: int(r["churned"]) for r in rows}
