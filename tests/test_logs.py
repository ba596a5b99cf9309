"""The app's log lines: logfmt on stdout, and a worker's terminal without RQ's bookkeeping."""

import io
import logging

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from core import logs, queue


def test_a_job_shows_its_start_and_its_end_but_not_rqs_bookkeeping(redis):
    out = io.StringIO()
    rq_log, handler = logging.getLogger("rq.worker"), logs.handler(out)
    rq_log.addHandler(handler)
    try:
        jobs = queue.queue(redis, "default")
        job = jobs.enqueue("operator.add", 1, 2)
        SimpleWorker([jobs], connection=redis, serializer=JSONSerializer).work(burst=True, logging_level="INFO")
    finally:
        rq_log.removeHandler(handler)
    printed = out.getvalue()
    assert f"default: operator.add(1, 2) ({job.id})" in printed
    assert "Successfully completed operator.add(1, 2) job in" in printed
    for bookkeeping in ("result is kept for", "cleaning registries", "Job OK", "subscribing to channel"):
        assert bookkeeping not in printed, printed
    assert all(line.startswith("level=") for line in printed.splitlines())
