"""No request can hit the router's 30 s by accident: Postgres's statement_timeout, and gunicorn's limits under it."""

import dataclasses
import runpy
import threading

from core import db, jobs
from tests.people import ops_headers
from web import create_app

ROUTER_LIMIT_S = 30


def test_gunicorn_heartbeat_and_graceful_stop_fit_under_the_routers_limits(env):
    """gunicorn's own limits, as gunicorn.conf.py sets them: none may outlast the router's 30 s or the dyno's SIGKILL.

    What cuts a slow request is Postgres's statement_timeout (the next test); `timeout` is the
    heartbeat after which the master replaces a wedged worker process.
    """
    settings = runpy.run_path("gunicorn.conf.py")
    assert settings["timeout"] < ROUTER_LIMIT_S
    assert settings["graceful_timeout"] < ROUTER_LIMIT_S  # the dyno's SIGKILL comes 30 s after SIGTERM
    assert settings["worker_class"] == "gthread"  # heartbeats from the main thread: streams are not "stuck"


def test_runaway_query_becomes_a_clear_503_page(app_config, conn, redis):
    """A page whose query waits past STATEMENT_TIMEOUT_MS answers 503 with a readable message."""
    headers = ops_headers()
    record, _ = jobs.submit(conn, redis, "app", kind="count", owner="ops", params={"n": 1},
                            func="sample_jobs.count_to")
    client = create_app({"APP": dataclasses.replace(app_config, statement_timeout_ms=100),
                         "TESTING": True}).test_client()
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with db.connect(app_config.database_url) as other, other.transaction():
            other.execute("LOCK TABLE app.jobs IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5), "the lock was never taken"
        page = client.get(f"/ops/jobs/{record['id']}", headers=headers)
        problem = client.get(f"/ops/jobs/{record['id']}.json", headers={**headers, "Accept": "application/json"})
    finally:
        release.set()
        holder.join()
    assert page.status_code == 503
    assert "That took too long" in page.get_data(as_text=True)
    assert problem.status_code == 503 and problem.mimetype == "application/problem+json"
