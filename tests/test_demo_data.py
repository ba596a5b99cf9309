"""Demo data: written the way Connect writes, the same for the same seed, consistent across objects."""

import re
from datetime import date, datetime, time, timedelta

import pytest
from psycopg import sql

from core import connect, db
from core.migrate import migrate
from standins import demo_data
from standins.org import ids
from standins.provision import provision

# Schemas of this module's own, so nothing here touches (or is touched by) other tests' data.
SCHEMA, APP_SCHEMA = "demo_data_sf", "demo_data_app"
SCALE = {"accounts": 200, "orders": 2_000}
TODAY = date(2025, 6, 30)


def quiet(*_):
    """Swallow progress messages."""


def _drop_schemas(conn, *schemas):
    """Drop schemas and everything in them."""
    for schema in schemas:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _provision(conn, schema, app_schema):
    """Fresh Connect and app schemas, built as `make run` builds them."""
    _drop_schemas(conn, schema, app_schema)
    provision(conn, schema, log=quiet)
    migrate(conn, app_schema, schema, log=quiet)


@pytest.fixture(scope="module")
def db_conn(database_url):
    """A connection to the session's test database, with this module's Connect and app schemas.

    Schemas, not a database of the module's own: DROP DATABASE makes the server write and fsync every
    dirty page of every database first (an immediate checkpoint), which took minutes mid-suite.
    """
    with db.connect(database_url) as conn:
        _provision(conn, SCHEMA, APP_SCHEMA)
        yield conn
        _drop_schemas(conn, SCHEMA, APP_SCHEMA)


def _load(conn, seed=42, **kwargs):
    """Load the module's scale into the module's schemas."""
    return demo_data.load(conn, **SCALE, seed=seed, schema=SCHEMA, app_schema=APP_SCHEMA, today=TODAY,
                          log=quiet, **kwargs)


@pytest.fixture(scope="module")
def demo(db_conn):
    """The module's demo data: 200 accounts, 2,000 orders, seed 42."""
    return _load(db_conn, replace=True)


def _table(name):
    """A Connect table of the module's schema, quoted."""
    return connect.qualified(SCHEMA, name)


def _fingerprints(conn):
    """An md5 per table over its rows in Id order (Connect's internal `id` left out)."""
    result = {}
    for table in demo_data.TABLES:
        query = sql.SQL("SELECT md5(string_agg((to_jsonb(t) - 'id')::text, '|' ORDER BY t.sfid)) AS h FROM {} t")
        result[table] = conn.execute(query.format(_table(table))).fetchone()["h"]
    return result


def _scalar(conn, query, *args):
    """The single value a query returns, with `{}` in it filled by the quoted names in args."""
    formatted = sql.SQL(query).format(*args) if args else query
    return next(iter(conn.execute(formatted).fetchone().values()))


def test_load_reports_the_rows_it_wrote(demo):
    rows = demo["rows"]
    assert rows["Account"] == 200 and rows["Order"] == 2_000 and rows["Product2"] == 40
    assert 200 <= rows["Contact"] <= 600
    assert 2_000 * 2 <= rows["OrderItem"] <= 2_000 * 3


def test_rows_arrive_synced_and_leave_no_trigger_log(db_conn, demo):
    for table in demo_data.TABLES:
        assert _scalar(db_conn, "SELECT count(*) FROM {} WHERE _hc_lastop IS DISTINCT FROM 'SYNCED'",
                       _table(table)) == 0
        assert _scalar(db_conn, "SELECT count(*) FROM {} WHERE _hc_err IS NOT NULL OR isdeleted", _table(table)) == 0
    assert _scalar(db_conn, "SELECT count(*) FROM {}", _table("_trigger_log")) == 0


def test_same_seed_gives_the_same_data_and_another_seed_different_data(db_conn, demo):
    first = _fingerprints(db_conn)
    try:
        _load(db_conn, replace=True)
        assert _fingerprints(db_conn) == first
        _load(db_conn, seed=7, replace=True)
        other = _fingerprints(db_conn)
        for table in ("account", "contact", "order", "orderitem"):
            assert other[table] != first[table], table
    finally:
        _load(db_conn, replace=True)


def test_data_does_not_depend_on_the_query_plan(db_conn, demo):
    first = _fingerprints(db_conn)
    try:
        for setting in ("enable_hashjoin", "enable_hashagg", "enable_seqscan"):
            db_conn.execute(sql.SQL("SET {} = off").format(sql.Identifier(setting)))
        _load(db_conn, replace=True)
        assert _fingerprints(db_conn) == first
    finally:
        db_conn.execute("RESET ALL")
        _load(db_conn, replace=True)


def test_ids_are_unique_salesforce_ids_with_valid_checksums(db_conn, demo):
    for table, prefix in demo_data.KEY_PREFIXES.items():
        sfids = [r["sfid"] for r in db_conn.execute(sql.SQL("SELECT sfid FROM {}").format(_table(table)))]
        assert len(set(sfids)) == len(sfids), table
        for sfid in sfids:
            assert re.fullmatch(r"[0-9A-Za-z]{18}", sfid) and sfid.startswith(prefix), sfid
            assert sfid[15:] == ids.case_safe_suffix(sfid[:15]), sfid
    first = _scalar(db_conn, "SELECT min(sfid) FROM {}", _table("account"))
    assert first == ids.salesforce_id("001", 1)


def test_sql_and_python_build_the_same_ids(db_conn):
    numbers = [0, 1, 9, 10, 35, 36, 61, 62, 3_843, 3_844, 999_999, 62**5 - 1, 62**5, 62**10 + 12_345, 2**63 - 1]
    demo_data.create_sql_functions(db_conn, 42)
    for prefix in ("001", "01t", "a0I", "XYZ"):
        rows = db_conn.execute("SELECT n, pg_temp.salesforce_id(%s, n) AS id FROM unnest(%s::bigint[]) AS n",
                               (prefix, numbers)).fetchall()
        assert {r["n"]: r["id"] for r in rows} == {n: ids.salesforce_id(prefix, n) for n in numbers}


def test_python_ids_match_a_known_salesforce_checksum():
    # Worked out by hand: "00Q30" has Q at 2 (4 -> E), "00000" none (A), "AbCdE" A, C, E at 0, 2, 4 (21 -> V).
    assert ids.case_safe_suffix("00Q3000000AbCdE") == "EAV"
    assert ids.salesforce_id("003", 62) == "003000000000010AAA"


def test_every_order_total_is_the_sum_of_its_items(db_conn, demo):
    mismatched = _scalar(
        db_conn,
        "SELECT count(*) FROM {} o LEFT JOIN (SELECT orderid, sum(totalprice::numeric) AS s FROM {} GROUP BY orderid) i"
        " ON i.orderid = o.sfid WHERE i.s IS NULL OR round(o.totalamount::numeric, 2) <> round(i.s, 2)",
        _table("order"), _table("orderitem"),
    )
    assert mismatched == 0
    bad_items = _scalar(
        db_conn,
        "SELECT count(*) FROM {} WHERE quantity NOT BETWEEN 1 AND 20 OR unitprice <= 0"
        " OR round(totalprice::numeric, 2) <> round((quantity * unitprice)::numeric, 2)",
        _table("orderitem"),
    )
    assert bad_items == 0


# Orders without their account or billing another account's contact; items without their order or product.
ORPHANS = """
SELECT (SELECT count(*) FROM {order} o LEFT JOIN {account} a ON a.sfid = o.accountid
               LEFT JOIN {contact} c ON c.sfid = o.billtocontactid
         WHERE a.sfid IS NULL OR c.accountid IS DISTINCT FROM o.accountid) AS orders,
       (SELECT count(*) FROM {orderitem} i LEFT JOIN {order} o ON o.sfid = i.orderid
               LEFT JOIN {product2} p ON p.sfid = i.product2id
         WHERE o.sfid IS NULL OR p.sfid IS NULL) AS items
"""


def test_orders_belong_to_accounts_and_bill_one_of_their_contacts(db_conn, demo):
    tables = {name: _table(name) for name in ("account", "contact", "order", "orderitem", "product2")}
    assert db_conn.execute(sql.SQL(ORPHANS).format(**tables)).fetchone() == {"orders": 0, "items": 0}


def test_first_account_is_the_biggest_customer(db_conn, demo):
    counts = db_conn.execute(
        sql.SQL("SELECT a.accountnumber, count(o.sfid) AS n FROM {} a LEFT JOIN {} o ON o.accountid = a.sfid"
                " GROUP BY a.accountnumber ORDER BY a.accountnumber").format(_table("account"), _table("order"))
    ).fetchall()
    first = counts[0]
    assert first["accountnumber"] == "ACC-00000001"
    assert first["n"] >= min(demo_data.BIG_ACCOUNT_ORDERS, SCALE["orders"] // 10)
    assert first["n"] == max(r["n"] for r in counts)
    # skewed: most accounts are far smaller than the biggest
    assert sorted(r["n"] for r in counts)[len(counts) // 2] < first["n"] / 10


def test_loading_again_without_replace_is_refused_and_changes_nothing(db_conn, demo):
    before = _fingerprints(db_conn)
    loads = _scalar(db_conn, "SELECT count(*) FROM {}", sql.Identifier(APP_SCHEMA, "demo_data_loads"))
    with pytest.raises(ValueError, match="replace=True"):
        _load(db_conn, seed=7)
    assert _fingerprints(db_conn) == before
    assert _scalar(db_conn, "SELECT count(*) FROM {}", sql.Identifier(APP_SCHEMA, "demo_data_loads")) == loads


def test_loaded_is_true_once_a_load_is_recorded(db_conn):
    schema, app_schema = "demo_data_sf_once", "demo_data_app_once"
    _provision(db_conn, schema, app_schema)
    try:
        assert not demo_data.loaded(db_conn, app_schema)
        demo_data.load(db_conn, accounts=5, orders=20, schema=schema, app_schema=app_schema, log=quiet)
        assert demo_data.loaded(db_conn, app_schema)
        row = db_conn.execute(sql.SQL("SELECT accounts, orders, seed FROM {}").format(
            sql.Identifier(app_schema, "demo_data_loads"))).fetchone()
        assert row == {"accounts": 5, "orders": 20, "seed": 42}
    finally:
        _drop_schemas(db_conn, schema, app_schema)


def test_picklist_values_are_ones_salesforce_accepts(db_conn, demo):
    fields = [("Account", "Type"), ("Account", "Industry"), ("Product2", "Family"), ("Order", "Status"),
              ("Order", "StatusCode"), ("Order", "Type"), ("Case", "Status"), ("Case", "Priority"),
              ("Case", "Origin"), ("Case", "Type"), ("Invoice__c", "Status__c")]
    for object_name, field in fields:
        allowed = {p["value"] for p in connect.field_definition(object_name, field)["picklistValues"]}
        used = {r["v"] for r in db_conn.execute(sql.SQL("SELECT DISTINCT {} AS v FROM {}").format(
            sql.Identifier(field.lower()), _table(connect.table_name(object_name))))}
        assert used and used <= allowed, (object_name, field, used - allowed)
    wrong_category = _scalar(
        db_conn,
        "SELECT count(*) FROM {} WHERE statuscode <> CASE status WHEN 'Draft' THEN 'Draft'"
        " WHEN 'Cancelled' THEN 'Cancelled' ELSE 'Activated' END",
        _table("order"),
    )
    assert wrong_category == 0


def test_contacts_have_names_unique_example_emails_and_external_ids(db_conn, demo):
    contacts = db_conn.execute(sql.SQL("SELECT * FROM {}").format(_table("contact"))).fetchall()
    emails = [c["email"] for c in contacts]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.com", e) for e in emails)
    assert all(c["name"] == f"{c['firstname']} {c['lastname']}" for c in contacts)
    external = [c["external_id__c"] for c in contacts]
    assert len(set(external)) == len(external)
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", x) for x in external)
    per_account = db_conn.execute(sql.SQL("SELECT count(*) AS n FROM {} GROUP BY accountid").format(
        _table("contact"))).fetchall()
    assert len(per_account) == SCALE["accounts"] and {r["n"] for r in per_account} <= {1, 2, 3}


def test_orders_span_the_two_years_before_today_and_never_the_future(db_conn, demo):
    span = db_conn.execute(sql.SQL(
        "SELECT min(effectivedate) AS first, max(effectivedate) AS last, max(systemmodstamp) AS modified,"
        " count(*) FILTER (WHERE (activateddate IS NULL) <> (status = 'Draft')) AS bad_activation,"
        " count(*) FILTER (WHERE status = 'Draft' AND effectivedate < %s) AS old_drafts FROM {}"
    ).format(_table("order")), (TODAY - timedelta(days=30),)).fetchone()
    assert TODAY - timedelta(days=730) <= span["first"] and span["last"] < TODAY
    assert span["modified"].date() <= TODAY
    assert span["bad_activation"] == 0 and span["old_drafts"] == 0
    numbers = [r["ordernumber"] for r in db_conn.execute(
        sql.SQL("SELECT ordernumber FROM {} ORDER BY createddate, sfid").format(_table("order")))]
    assert numbers == sorted(numbers) and all(re.fullmatch(r"\d{8}", n) for n in numbers)


def test_command_line_needs_database_url(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit):
        demo_data.main(["--accounts", "10", "--orders", "100"])
    assert "DATABASE_URL" in capsys.readouterr().err


def test_cases_follow_their_accounts_orders_and_old_ones_are_closed(db_conn, demo):
    cases = db_conn.execute(sql.SQL(
        "SELECT k.*, o.accountid AS order_account, o.createddate AS ordered, c.accountid AS contact_account"
        " FROM {} k JOIN {} o ON o.sfid = k.order__c JOIN {} c ON c.sfid = k.contactid"
    ).format(_table("case"), _table("order"), _table("contact"))).fetchall()
    assert demo["rows"]["Case"] == len(cases) and 0.02 * SCALE["orders"] < len(cases) < 0.2 * SCALE["orders"]
    assert all(k["accountid"] == k["order_account"] == k["contact_account"] for k in cases)
    assert all(k["ordered"] <= k["createddate"] < datetime.combine(TODAY, time()) for k in cases)
    for k in cases:
        assert k["isclosed"] == (k["status"] == "Closed") == (k["closeddate"] is not None)
        assert k["isclosed"] == (k["createddate"] < datetime.combine(TODAY - timedelta(days=10), time()))
    numbers = [k["casenumber"] for k in sorted(cases, key=lambda k: (k["createddate"], k["sfid"]))]
    assert numbers == sorted(numbers)


def test_invoices_bill_past_months_and_record_when_they_were_paid(db_conn, demo):
    invoices = db_conn.execute(sql.SQL("SELECT * FROM {}").format(_table("invoice__c"))).fetchall()
    assert demo["rows"]["Invoice__c"] == len(invoices) > SCALE["accounts"]
    periods = sorted({i["period__c"] for i in invoices})
    assert periods[-1] == "2025-04" and periods[0] == "2024-03"  # up to the month before last, 15 months
    assert len({i["external_id__c"] for i in invoices}) == len(invoices)
    for i in invoices:
        assert i["external_id__c"] == f"inv-{i['account__c']}-{i['period__c']}"
        assert (i["status__c"] == "Paid") == (i["paid_date__c"] is not None)
        assert i["paid_date__c"] is None or i["paid_date__c"] < TODAY
    late = sum(1 for i in invoices if i["paid_date__c"] and i["paid_date__c"] > i["due_date__c"])
    assert 0.03 * len(invoices) < late < 0.4 * len(invoices)
    orders = db_conn.execute(sql.SQL(
        "SELECT round(sum(totalamount::numeric), 2) AS amount, count(*) AS n FROM {}"
        " WHERE statuscode = 'Activated' AND to_char(effectivedate, 'YYYY-MM') BETWEEN %s AND %s"
    ).format(_table("order")), (periods[0], periods[-1])).fetchone()
    assert round(sum(i["amount__c"] for i in invoices), 0) == round(float(orders["amount"]), 0)
    assert sum(i["order_count__c"] for i in invoices) == orders["n"]
