"""Job functions for tests only: the worker imports them by dotted path (tests/ is on its PYTHONPATH)."""

from rq.exceptions import ShutDownImminentException

from core import jobs


def count_to(job_id: str) -> None:
    """Report progress up to params['n'] and finish with a result."""
    with jobs.running(job_id) as job:
        n = job.params["n"]
        for i in range(1, n + 1):
            job.progress(i, n)
        job.result = {"counted": n}


def fail_with_message(job_id: str) -> None:
    """Fail the way a feature tells the user why."""
    with jobs.running(job_id):
        raise jobs.JobError("The account has no orders to export.")


def crash(job_id: str) -> None:
    """Fail with a bug: the user must not read its details."""
    with jobs.running(job_id):
        raise KeyError("secret internal detail")


def interrupted(job_id: str) -> None:
    """Stop the way HerokuWorker stops a job after the dyno's SIGTERM."""
    with jobs.running(job_id):
        raise ShutDownImminentException("shut down imminent (signal: SIGALRM)", {})
