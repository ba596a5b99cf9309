"""The job mechanism: one run per request however often it is clicked, status every dyno can read."""

from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from core import jobs, queue
from tests.people import log_in

SCHEMA = "app"


def _submit(conn, redis, func="sample_jobs.count_to", owner="7", params=None, kind="count"):
    return jobs.submit(conn, redis, SCHEMA, kind=kind, owner=owner, params=params or {"n": 5}, func=func)


def test_same_request_twice_joins_the_first_run(conn, redis):
    first, started = _submit(conn, redis)
    second, started_again = _submit(conn, redis)
    assert started and not started_again
    assert first["id"] == second["id"]
    assert queue.queue(redis).count == 1


def test_other_parameters_make_another_job(conn, redis):
    first, _ = _submit(conn, redis, params={"n": 5})
    second, started = _submit(conn, redis, params={"n": 6})
    assert started and first["id"] != second["id"]


def test_job_id_is_a_valid_rq_id_derived_from_owner_and_parameters():
    assert jobs.job_id("export-orders", "7", {"a": 1}) == jobs.job_id("export-orders", "7", {"a": 1})
    assert jobs.job_id("export-orders", "7", {"a": 1}) != jobs.job_id("export-orders", "8", {"a": 1})
    assert jobs.job_id("export-orders", "7", {"a": 1}).startswith("export-orders-")


def test_finished_job_can_be_started_again(conn, redis, env, run_jobs):
    _submit(conn, redis)
    run_jobs()
    record, started = _submit(conn, redis)
    assert started and record["state"] == "queued" and record["done"] == 0
    run_jobs()
    assert jobs.get(conn, SCHEMA, record["id"])["state"] == "finished"


def test_queued_job_that_redis_lost_is_queued_again(conn, redis):
    record, _ = _submit(conn, redis)
    redis.flushdb()
    _, started = _submit(conn, redis)
    assert started and Job.exists(record["id"], connection=redis)


def test_worker_runs_job_to_finished_with_progress_and_result(conn, redis, env, run_jobs):
    record, _ = _submit(conn, redis, params={"n": 50})
    run_jobs()
    done = jobs.get(conn, SCHEMA, record["id"])
    assert done["state"] == "finished"
    assert (done["done"], done["total"]) == (50, 50)
    assert done["result"] == {"counted": 50}
    assert done["attempts"] == 1 and done["finished_at"] is not None


def test_progress_writes_are_throttled(conn, redis, env):
    record, _ = _submit(conn, redis)
    with jobs.running(record["id"]) as job:
        job.progress(1, 100)
        job.progress(2, 100)
        assert jobs.get(conn, SCHEMA, record["id"])["done"] == 1
        job.progress(3, 100, force=True)
        assert jobs.get(conn, SCHEMA, record["id"])["done"] == 3


def test_job_failure_shows_the_users_message_after_the_last_retry(conn, redis, env, run_jobs):
    record, _ = _submit(conn, redis, func="sample_jobs.fail_with_message")
    run_jobs()
    first = jobs.get(conn, SCHEMA, record["id"])
    assert first["state"] == "queued"
    assert first["error"] == "The account has no orders to export.; it will be retried shortly."
    rq_job = Job.fetch(record["id"], connection=redis, serializer=JSONSerializer)
    rq_job.retries_left = 0
    rq_job.save()
    queue.queue(redis).enqueue_job(rq_job)
    run_jobs()
    final = jobs.get(conn, SCHEMA, record["id"])
    assert final["state"] == "failed" and final["error"] == "The account has no orders to export."


def test_a_bug_in_a_job_shows_no_internal_details(conn, redis, env, run_jobs):
    record, _ = _submit(conn, redis, func="sample_jobs.crash")
    run_jobs()
    assert "secret" not in jobs.get(conn, SCHEMA, record["id"])["error"]


def test_interrupted_job_goes_back_to_queued_and_is_scheduled_for_retry(conn, redis, env, run_jobs):
    record, _ = _submit(conn, redis, func="sample_jobs.interrupted")
    run_jobs()
    after = jobs.get(conn, SCHEMA, record["id"])
    assert after["state"] == "queued"
    assert after["error"].startswith("Interrupted by a restart")
    assert record["id"] in ScheduledJobRegistry(queue=queue.queue(redis)).get_job_ids()


def test_owner_sees_the_status_page_with_a_progress_bar(client, conn, redis):
    record, _ = _submit(conn, redis)
    log_in(client, user_id=7)
    page = client.get(f"/jobs/{record['id']}").get_data(as_text=True)
    assert "<progress" in page and "jobs.js" in page
    assert '<noscript><meta http-equiv="refresh"' in page


def test_status_json_has_state_progress_and_links(client, conn, redis):
    record, _ = _submit(conn, redis)
    log_in(client, user_id=7)
    body = client.get(f"/jobs/{record['id']}.json").get_json()
    assert body["state"] == "queued" and body["done"] == 0
    assert body["url"] == f"/jobs/{record['id']}" and body["result_url"] is None


def test_status_is_json_when_the_client_asks_for_it(client, conn, redis):
    record, _ = _submit(conn, redis)
    log_in(client, user_id=7)
    response = client.get(f"/jobs/{record['id']}", headers={"Accept": "application/json"})
    assert response.get_json()["id"] == record["id"]


def test_another_customer_gets_404(client, conn, redis):
    record, _ = _submit(conn, redis, owner="7")
    log_in(client, user_id=8)
    assert client.get(f"/jobs/{record['id']}").status_code == 404
    assert client.get(f"/jobs/{record['id']}.json").status_code == 404


def test_anonymous_visitor_gets_404(client, conn, redis):
    record, _ = _submit(conn, redis, owner="7")
    assert client.get(f"/jobs/{record['id']}.json").status_code == 404


def test_operator_sees_any_job_under_ops(client, ops, conn, redis):
    record, _ = _submit(conn, redis, owner="7")
    assert ops.get(f"/ops/jobs/{record['id']}.json").get_json()["id"] == record["id"]
    assert client.get(f"/ops/jobs/{record['id']}.json").status_code == 401


def test_unknown_job_is_404(ops):
    assert ops.get("/ops/jobs/export-orders-0123456789abcdef01234567.json").status_code == 404


def test_failed_job_page_shows_the_error(client, conn, redis, env):
    record, _ = _submit(conn, redis, func="sample_jobs.crash")
    conn.execute("UPDATE app.jobs SET state = 'failed', error = %s", (jobs.INTERNAL_ERROR,))
    log_in(client, user_id=7)
    page = client.get(f"/jobs/{record['id']}").get_data(as_text=True)
    assert "failed on our side" in page and "http-equiv" not in page
