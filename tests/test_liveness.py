"""The reaper (worker/liveness.py) on a real Redis: a job a dead worker took but never started is not lost."""

import time

from rq.registry import StartedJobRegistry

from core import invoicing, queue
from worker import liveness


def test_a_job_taken_by_a_worker_killed_before_starting_it_is_queued_again_at_the_front(redis):
    q = queue.queue(redis)
    invoicing.enqueue_chunks(q, 7, [0, 1])
    taken = invoicing.chunk_job_id(7, 0)
    # What a worker SIGKILLed between taking the job and marking it started leaves behind: the job
    # off the queue, still 'queued', in the started registry under a worker that is gone.
    assert redis.lpop(q.key).decode() == taken
    registry = StartedJobRegistry(queue=q)
    redis.zadd(registry.key, {f"{taken}:e1": time.time() + 600})
    redis.hset(f"rq:execution:{taken}:e1", "worker_name", "a-worker-that-was-killed")

    abandoned, _ = liveness.reap(redis, [q])

    assert abandoned == [taken]
    assert q.get_job_ids() == [taken, invoicing.chunk_job_id(7, 1)]
    assert redis.zcard(registry.key) == 0
