"""`python -m worker`: the worker dyno's entry point.

Why not `rq worker`? Its CLI reads RQ_REDIS_URL rather than REDIS_URL and cannot be told to
accept Heroku Redis's self-signed certificate. `HerokuWorker` is RQ's worker for Heroku: on
SIGTERM it shields the running job's work-horse and raises ShutDownImminentException inside the
job a few seconds later, so the job can stop cleanly and be retried before the SIGKILL.
"""

import logging
import sys

from rq.serializers import JSONSerializer
from rq.worker import HerokuWorker

from core import config, logs, queue
from worker import liveness

# Import the job modules once, in the parent: every forked work-horse then starts with them loaded
# instead of importing psycopg and friends again (about 50 ms per job).
import worker.exports  # noqa: E402, F401  isort: skip
import worker.invoicing  # noqa: E402, F401  isort: skip
import worker.jobs  # noqa: E402, F401  isort: skip
import worker.scoring  # noqa: E402, F401  isort: skip


class Worker(HerokuWorker):
    """HerokuWorker that rebuilds a scoring run's model in the parent, once, for every work-horse it forks."""

    def execute_job(self, job, queue):
        worker.scoring.warm(job)
        return super().execute_job(job, queue)


def main(argv=None) -> int:
    """Serve the queues until told to stop (or, with --burst, until they are empty)."""
    logs.setup()
    argv = sys.argv[1:] if argv is None else argv
    with config.exit_on_error():
        cfg = config.load()
    conn = queue.connect(cfg.redis_url)
    names = [a for a in argv if not a.startswith("-")] or list(queue.QUEUES)
    worker = Worker(
        [queue.queue(conn, name) for name in names],
        connection=conn,
        serializer=JSONSerializer,
    )
    logging.getLogger(__name__).info("worker serving %s", ", ".join(names))
    # Jobs retry with Retry(interval=[…]): a retry waits in RQ's ScheduledJobRegistry until a
    # scheduler moves it back to its queue. Every worker offers to run one (RQ's lock lets only one
    # per queue work at a time), so retries happen whatever the number of worker dynos.
    with_scheduler = "--without-scheduler" not in argv
    # A SIGKILLed worker's jobs are retried in seconds, not after RQ's lease; a Redis that lost its
    # data gets the unfinished invoice chunks again, from Postgres (worker/liveness.py).
    liveness.watch(worker, cfg)
    worker.work(burst="--burst" in argv, with_scheduler=with_scheduler, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
