"""The app-owned composite indexes the portal's queries rely on (sql/connect_indexes.sql)."""

from core.migrate import migrate
from tests import portal_rows


def test_indexes_exist_after_migrate(conn):
    names = {r["indexname"] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'salesforce'")}
    assert {"app_idx_order_account_effective", "app_idx_order_account_status_effective",
            "app_idx_order_account_number", "app_idx_case_account_id", "app_idx_invoice_account_period"} <= names


def test_indexes_file_runs_again_without_error(conn):
    migrate(conn, "app", "salesforce", log=lambda *_: None)


def test_indexes_file_skips_tables_connect_has_not_created(conn):
    conn.execute("CREATE SCHEMA IF NOT EXISTS empty_connect")
    try:
        migrate(conn, "app", "empty_connect", log=lambda *_: None)
    finally:
        conn.execute("DROP SCHEMA empty_connect CASCADE")


def test_order_list_reads_the_composite_index_in_order(conn):
    portal_rows.load(conn)
    conn.execute('ANALYZE salesforce."order"')
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table would otherwise be scanned whole
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute(
            'EXPLAIN SELECT sfid FROM salesforce."order" o WHERE o.accountid = %s '
            "ORDER BY o.effectivedate DESC, o.sfid DESC LIMIT 26", (portal_rows.ACCOUNT_A,)))
    assert "app_idx_order_account_effective" in plan and "Sort" not in plan
