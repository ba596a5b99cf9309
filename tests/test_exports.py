"""CSV exports: streamed downloads and background jobs, scoped to who asks."""

import csv
import dataclasses
import io
import re
import threading

import pytest
from click.testing import CliRunner

from core import db, exports, jobs, queue
from manage import cli
from tests import connect_rows, processes
from tests.people import log_in, ops_headers
from tests.portal_rows import csrf
from web import create_app, streams
from worker import exports as export_jobs

ACCOUNT = connect_rows.account_sfid(1)


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


# buffered=True: the test client then closes each response, as gunicorn does, which returns the
# stream's connection to the pool and its slot to the per-process limit.


def _start(client, path="/orders/exports", **kwargs):
    """Submit a background-export form, with the session's CSRF token as the page's form carries it."""
    return client.post(path, data={"csrf_token": csrf(client)}, **kwargs)


def _jobs(conn) -> int:
    """How many jobs were ever started."""
    return conn.execute("SELECT count(*) AS n FROM app.jobs").fetchone()["n"]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 rows, so a few dozen rows cross several chunk boundaries."""
    monkeypatch.setattr(exports, "CHUNK_ROWS", 7)


def test_customer_stream_has_the_header_then_only_their_accounts_orders(client, conn, small_chunks):
    connect_rows.load(conn, accounts=3, orders=30)
    log_in(client, account_sfid=ACCOUNT)
    response = client.get("/orders/export.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _rows(response.get_data())
    assert rows[0] == list(exports.ORDER_HEADERS)
    assert len(rows) == 1 + 10
    assert {r[2] for r in rows[1:]} == {"ACC-00000001"}


def test_ops_stream_has_every_order_exactly_once_across_chunks(ops, conn, small_chunks):
    connect_rows.load(conn, accounts=3, orders=50)
    rows = _rows(ops.get("/ops/exports/orders.csv", buffered=True).get_data())
    numbers = [r[0] for r in rows[1:]]
    assert sorted(numbers) == sorted(f"{n:08d}" for n in range(1, 51))
    assert len(set(numbers)) == 50


def test_ops_stream_of_invoices(ops, conn):
    connect_rows.load(conn, accounts=2, orders=0, invoices=4)
    rows = _rows(ops.get("/ops/exports/invoices.csv", buffered=True).get_data())
    assert rows[0] == list(exports.INVOICE_HEADERS)
    assert [r[0] for r in rows[1:]] == ["INV-1", "INV-2", "INV-3", "INV-4"]


def test_ops_exports_need_operator_credentials(client, conn):
    assert client.get("/ops/exports/orders.csv").status_code == 401


def test_unknown_ops_export_is_404(ops):
    assert ops.get("/ops/exports/account-orders.csv").status_code == 404


def test_spreadsheet_formulas_in_names_are_neutralised(ops, conn, as_connect):
    connect_rows.load(conn, accounts=1, orders=1)
    with as_connect(conn):
        conn.execute("UPDATE salesforce.account SET name = '=HYPERLINK(\"http://evil\")'")
    rows = _rows(ops.get("/ops/exports/orders.csv", buffered=True).get_data())
    assert rows[1][3] == "'=HYPERLINK(\"http://evil\")"


def test_a_third_simultaneous_stream_is_refused_with_retry_after(ops, conn):
    connect_rows.load(conn, accounts=1, orders=3)
    running = [ops.get("/ops/exports/orders.csv") for _ in range(streams.STREAMS_PER_PROCESS)]
    refused = ops.get("/ops/exports/orders.csv", buffered=True)
    for response in running:
        response.close()
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert ops.get("/ops/exports/orders.csv", buffered=True).status_code == 200


def test_ops_export_page_offers_both_ways(ops):
    page = ops.get("/ops/exports").get_data(as_text=True)
    assert "/ops/exports/orders.csv" in page and 'action="/ops/exports/invoices"' in page


# The export's query, seen from another session: waiting for the lock on the order table for longer
# than the web's statement_timeout would have let it wait.
EXPORT_BLOCKED = """
SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE NOT l.granted AND l.relation = 'salesforce."order"'::regclass
   AND clock_timestamp() - a.query_start > %(longer_than)s * interval '1 millisecond'
"""

def test_stream_is_not_cut_by_the_web_statement_timeout(app_config, conn, redis):
    """A COPY that waits longer than STATEMENT_TIMEOUT_MS still completes: exports lift the limit."""
    headers = ops_headers()
    connect_rows.load(conn, accounts=1, orders=3)
    slow_config = dataclasses.replace(app_config, statement_timeout_ms=100)
    client = create_app({"APP": slow_config, "TESTING": True}).test_client()
    locked, outcome = threading.Event(), {}

    def hold_lock_until_the_export_has_waited_past_its_old_limit():
        with db.connect(app_config.database_url) as other, other.transaction():
            other.execute('LOCK TABLE salesforce."order" IN ACCESS EXCLUSIVE MODE')
            locked.set()
            try:
                processes.wait_for(lambda: conn.execute(EXPORT_BLOCKED, {"longer_than": 5 * 100}).fetchone()["n"],
                                   20, "the export's query to wait on the lock for 5x its old statement timeout")
                outcome["waited"] = True
            except AssertionError as exc:
                outcome["waited"] = exc

    holder = threading.Thread(target=hold_lock_until_the_export_has_waited_past_its_old_limit)
    holder.start()
    assert locked.wait(10), "the lock was never taken"
    response = client.get("/ops/exports/orders.csv", headers=headers, buffered=True)
    holder.join()
    assert outcome["waited"] is True, outcome["waited"]
    assert len(_rows(response.get_data())) == 1 + 3


def test_background_export_answers_202_with_the_status_location(client, conn, redis):
    log_in(client, account_sfid=ACCOUNT)
    response = _start(client)
    assert response.status_code == 202
    assert response.headers["Location"].startswith("/jobs/export-account-orders-")
    assert "<progress" in response.get_data(as_text=True)


def test_second_click_joins_the_running_export(client, conn, redis):
    log_in(client, account_sfid=ACCOUNT)
    first = _start(client).headers["Location"]
    assert _start(client).headers["Location"] == first
    assert queue.queue(redis).count == 1


def test_background_export_without_the_csrf_token_is_refused_and_starts_no_job(client, conn, redis):
    log_in(client, account_sfid=ACCOUNT)
    csrf(client)  # the session has a token; the post does not carry it
    response = client.post("/orders/exports")
    assert response.status_code == 400 and "Reload the page" in response.get_data(as_text=True)
    assert _jobs(conn) == 0 and queue.queue(redis).count == 0


def test_cross_site_post_is_refused_even_with_the_token(client, conn, redis):
    log_in(client, account_sfid=ACCOUNT)
    assert _start(client, headers={"Origin": "https://evil.example"}).status_code == 403
    assert _start(client, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _jobs(conn) == 0 and queue.queue(redis).count == 0


def test_background_export_file_downloads_from_the_result_link(client, conn, env, run_jobs, small_chunks):
    connect_rows.load(conn, accounts=3, orders=30)
    log_in(client, account_sfid=ACCOUNT)
    location = _start(client).headers["Location"]
    run_jobs()
    status = client.get(location + ".json").get_json()
    assert status["state"] == "finished" and status["done"] == status["total"] == 10
    download = client.get(status["result_url"], buffered=True)
    assert download.status_code == 200
    assert int(download.headers["Content-Length"]) == len(download.get_data())
    rows = _rows(download.get_data())
    assert rows[0] == list(exports.ORDER_HEADERS) and len(rows) == 11


def test_background_export_resumes_after_an_interruption_without_duplicates(conn, redis, env, small_chunks,
                                                                            monkeypatch):
    connect_rows.load(conn, accounts=1, orders=40)
    record, _ = jobs.submit(conn, redis, "app", kind="export-orders", owner="ops", params={"export": "orders"},
                            func="worker.exports.export_csv")
    real_copy, calls = exports.copy_chunk, []

    def copy_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ConnectionError("worker lost")
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(exports, "copy_chunk", copy_then_die)
    with pytest.raises(ConnectionError):
        export_jobs.export_csv(record["id"])
    assert jobs.get(conn, "app", record["id"])["checkpoint"]["rows"] == 14
    export_jobs.export_csv(record["id"])
    body = b"".join(r["data"] for r in conn.execute(
        "SELECT data FROM app.export_file_chunks WHERE job_id = %s ORDER BY seq", (record["id"],)))
    numbers = [r[0] for r in _rows(body)[1:]]
    assert sorted(numbers) == [f"{n:08d}" for n in range(1, 41)]
    assert jobs.get(conn, "app", record["id"])["attempts"] == 2


@pytest.fixture
def expired_export(client, conn, env, run_jobs):
    """The status page of a customer's finished export whose file has expired."""
    connect_rows.load(conn, accounts=1, orders=2)
    log_in(client, account_sfid=ACCOUNT)
    location = _start(client).headers["Location"]
    run_jobs()
    conn.execute("UPDATE app.export_files SET expires_at = now() - interval '1 minute'")
    return location


def test_expired_file_is_gone(client, expired_export):
    assert client.get(expired_export + "/file").status_code == 410
    assert client.get(expired_export + ".json").get_json()["expired"] is True


def test_cleanup_deletes_expired_files_and_downloads_then_answer_410(client, conn, expired_export):
    result = CliRunner().invoke(cli, ["exports", "cleanup"])
    assert "1 expired export file(s) deleted" in result.output
    assert conn.execute("SELECT count(*) AS n FROM app.export_file_chunks").fetchone()["n"] == 0
    assert client.get(expired_export + "/file").status_code == 410


def test_file_of_an_unfinished_job_is_not_offered(client, conn, redis):
    log_in(client, account_sfid=ACCOUNT)
    location = _start(client).headers["Location"]
    assert client.get(location + "/file").status_code == 404


def test_cli_writes_an_export_to_a_file(conn, env, tmp_path):
    connect_rows.load(conn, accounts=2, orders=6)
    out = tmp_path / "orders.csv"
    result = CliRunner().invoke(cli, ["exports", "write", "orders", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(_rows(out.read_bytes())) == 7


def test_ops_background_export_points_at_the_ops_status_page(ops, conn, redis):
    page = ops.get("/ops/exports").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    response = ops.post("/ops/exports/invoices", data={"csrf_token": token}, headers={"Accept": "application/json"})
    assert response.status_code == 202
    assert response.headers["Location"].startswith("/ops/jobs/export-invoices-")
    assert response.get_json()["state"] == "queued"


def test_ops_background_export_without_the_csrf_token_is_refused_and_starts_no_job(ops, conn, redis):
    ops.get("/ops/exports")
    response = ops.post("/ops/exports/invoices", headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert _jobs(conn) == 0 and queue.queue(redis).count == 0


def test_background_export_is_a_503_when_redis_is_down(app_config, conn):
    broken = dataclasses.replace(app_config, redis_url="unix:///nonexistent/redis.sock")
    client = create_app({"APP": broken, "TESTING": True}).test_client()
    log_in(client, account_sfid=ACCOUNT)
    response = _start(client)
    assert response.status_code == 503
    assert "not started and nothing was recorded" in response.get_data(as_text=True)
