-- Indexes on Connect tables that the mapping file cannot express (it declares single-field indexes
-- only). Runs on every release: idempotent, named app_idx_* so nobody mistakes them for Connect's,
-- and skipped while Connect has not created the table yet.
-- Each one says which query needs it.
--
-- Built without CONCURRENTLY (which cannot run inside the release's transaction): the first build on
-- a large table holds off Connect's writes to it for a few seconds; later releases find it and do nothing.
DO $$
BEGIN
    IF to_regclass('{connect_schema}."order"') IS NOT NULL THEN
        -- Portal order list (core/orders.py LIST_ORDERS): one account's orders, newest first, keyset-paged
        -- on (effectivedate, sfid). The index yields rows in that order: no sort, and page 400 costs what
        -- page 1 costs.
        CREATE INDEX IF NOT EXISTS app_idx_order_account_effective
            ON {connect_schema}."order" (accountid, effectivedate DESC, sfid DESC);
        -- The same list filtered by status.
        CREATE INDEX IF NOT EXISTS app_idx_order_account_status_effective
            ON {connect_schema}."order" (accountid, status, effectivedate DESC, sfid DESC);
        -- Search by order number, typed without its leading zeros (BY_NUMBER).
        CREATE INDEX IF NOT EXISTS app_idx_order_account_number
            ON {connect_schema}."order" (accountid, ltrim(ordernumber, '0'));
    END IF;
    IF to_regclass('{connect_schema}."case"') IS NOT NULL THEN
        -- Portal case list (core/cases.py LIST_CASES): one account's cases, newest row first.
        CREATE INDEX IF NOT EXISTS app_idx_case_account_id ON {connect_schema}."case" (accountid, id DESC);
    END IF;
    IF to_regclass('{connect_schema}.invoice__c') IS NOT NULL THEN
        -- An order's invoices (core/account_invoices.py ORDER_INVOICES): the account's invoice for a month.
        CREATE INDEX IF NOT EXISTS app_idx_invoice_account_period
            ON {connect_schema}.invoice__c (account__c, period__c);
    END IF;
    -- Batch invoicing (worker/invoicing.py BILL, core/invoicing.py ESTIMATE): each chunk reads the billable
    -- orders of an account range in one month. Partial (only Activated, not deleted) and covering, so the
    -- chunk's read is an index-only range scan instead of ~one heap page per order (orders are stored in
    -- creation order, not by account). Measured at 1,000,000 orders: 13.0 s -> 10.1 s for the 50 chunks.
    IF to_regclass('{connect_schema}."order"') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_order_billable
            ON {connect_schema}."order" (accountid, effectivedate) INCLUDE (sfid, totalamount)
            WHERE statuscode = 'Activated' AND NOT isdeleted;
    END IF;
    -- Sync health console (core/sync_health.py FAILED_COUNT / FAILED_ROWS): a read-write table's rows
    -- Salesforce refused. Partial, so it holds only the few FAILED rows and costs Connect's writes
    -- almost nothing. Measured with 1,000,000 invoices and 1,000,000 orders: the console's per-mapping
    -- queries 119.5 ms -> 1.6 ms (the seq scan counting FAILED invoices was nearly all of it).
    IF to_regclass('{connect_schema}.contact') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_contact_failed ON {connect_schema}.contact (id) WHERE _hc_lastop = 'FAILED';
    END IF;
    IF to_regclass('{connect_schema}."case"') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_case_failed ON {connect_schema}."case" (id) WHERE _hc_lastop = 'FAILED';
    END IF;
    IF to_regclass('{connect_schema}.invoice__c') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_invoice_failed ON {connect_schema}.invoice__c (id)
            WHERE _hc_lastop = 'FAILED';
    END IF;
    IF to_regclass('{connect_schema}.account') IS NOT NULL THEN  -- read-write for the churn fields (docs/scoring.md)
        CREATE INDEX IF NOT EXISTS app_idx_account_failed ON {connect_schema}.account (id) WHERE _hc_lastop = 'FAILED';
    END IF;
    -- Churn features (core/scoring/features.py EXTRACT): a scoring chunk reads the orders, the cases and
    -- the invoices of an account range as of a cut-off. Covering and partial (not deleted, the only rows
    -- the features count), so each read is an index-only range scan per account instead of one heap page
    -- per row: rows are stored in sync order, not by account.
    IF to_regclass('{connect_schema}."order"') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_order_account_features
            ON {connect_schema}."order" (accountid, effectivedate) INCLUDE (createddate, totalamount, sfid)
            WHERE isdeleted IS NOT TRUE;
    END IF;
    -- The features no longer read order items (docs/scoring.md, "What a feature costs"): the index that
    -- served them would only slow Connect's writes of 2.5 million items.
    DROP INDEX IF EXISTS {connect_schema}.app_idx_orderitem_order_features;
    IF to_regclass('{connect_schema}."case"') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_case_account_features
            ON {connect_schema}."case" (accountid) INCLUDE (createddate, closeddate) WHERE isdeleted IS NOT TRUE;
    END IF;
    IF to_regclass('{connect_schema}.invoice__c') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_invoice_account_features
            ON {connect_schema}.invoice__c (account__c) INCLUDE (due_date__c, paid_date__c, createddate)
            WHERE isdeleted IS NOT TRUE;
    END IF;
    -- The journey of a change (core/journey.py RECORD_JOURNEY): a record's newest trigger-log entry, polled
    -- every 2 s by the record's page. Connect's own indexes on the live log are (created_at), (state, id) and
    -- (state, table_name): none finds one record's entries, and after a large write (an invoicing run) the
    -- live log holds many thousands of rows. The archive already has Connect's (record_id) index.
    IF to_regclass('{connect_schema}._trigger_log') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS app_idx_trigger_log_record ON {connect_schema}._trigger_log (table_name, record_id, id);
    END IF;
END
$$;
