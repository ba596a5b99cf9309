"""The app-owned composite indexes the portal's queries rely on (sql/connect_indexes.sql)."""

from datetime import date

from psycopg import sql

from core import orders
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


def _plan(conn, query, params) -> str:
    """EXPLAIN of the app's own query text, as the portal runs it."""
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table would otherwise be scanned whole
        return "\n".join(r["QUERY PLAN"] for r in conn.execute(sql.SQL("EXPLAIN ") + sql.SQL(query), params))


def test_order_list_reads_the_composite_index_in_order(conn, portal_world):
    conn.execute('ANALYZE salesforce."order"')
    plan = _plan(conn, orders._list_query("salesforce", ""), {"account": portal_rows.ACCOUNT_A, "limit": 26})
    assert "app_idx_order_account_effective" in plan and "Sort" not in plan


def test_a_later_page_reads_the_same_index_from_its_cursor(conn, portal_world):
    conn.execute('ANALYZE salesforce."order"')
    params = {"account": portal_rows.ACCOUNT_A, "limit": 26, "after_date": date(2026, 1, 1),
              "after_sfid": "801000000000000AAA"}
    plan = _plan(conn, orders._list_query("salesforce", orders.AFTER), params)
    assert "app_idx_order_account_effective" in plan and "Sort" not in plan
