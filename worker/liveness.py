"""Abandoned work found in seconds: every worker says it is alive, and any worker reaps a dead one's jobs.

A SIGKILL (a dyno killed 30 s after SIGTERM, a crash, an out-of-memory kill) gives RQ no chance to
record anything. RQ finds the job abandoned only when the dead worker's heartbeat lease has run
out (its job-monitoring interval + 60 s) and the next maintenance pass has looked (every 10
minutes by default), and the retry it then schedules waits for the dead worker's scheduler lock
to run out too (61 s). A killed chunk of a nightly run could sit for ten minutes.

Here each worker process keeps a key of its own alive in Redis (`app:alive:<name>`, 10 s, renewed
every 3 s by a thread of the parent process), for itself and for the scheduler it runs. The same
thread, in every worker, looks at the started jobs of its queues: one whose worker has no live
key is abandoned. It is handed to RQ's own cleanup (its lease set to expire now), which runs the
job's failure callback and schedules its retry exactly as after a lease expiry; a scheduler lock
held by a dead scheduler is released and this worker's scheduler takes it (RQ would try again
only at its next maintenance pass, ten minutes on). A chunk killed
mid-transaction runs again about 20 s later (10 s for the key to expire, up to 3 s to notice, the
retry's own 5 s delay, the scheduler's 1 s poll).

Two cases RQ's cleanup gets wrong are handled here: a worker killed after taking a job but before
marking it started leaves a job still "queued" that the cleanup drops without a retry — it is
put back at the front of its queue; and a retry asked for at the front of the queue
(`Retry(enqueue_at_front=True)`, as invoice chunks are) goes there only if the attempt has an
end time, which a killed attempt never records — the reaper records it.

A worker cut off from Redis for more than 10 s while its job goes on is reaped too: the job then
runs twice at once, which the jobs already survive (a chunk locks its rows, a retry of a committed
chunk finds it done).

Redis restarting is survived the same way. RQ's scheduler process exits on a Redis connection
error and RQ would start another only at the next maintenance pass; here a worker whose
scheduler is not running takes the lock whenever nobody live holds it. And a Redis that comes
back empty (no persistence, a failover, a flush) has lost every queued job and every retry
waiting in the scheduled registry: the first worker to notice (the key `app:redis-known` is
gone) enqueues again, from Postgres, every unfinished chunk of every running invoice run whose
job is gone (core/invoicing.py: requeue_unfinished), then sets the key.
"""

import logging
import threading
import time

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE
from rq.timeouts import TimerDeathPenalty
from rq.utils import now, utcformat

from core import config, db, invoicing, queue

log = logging.getLogger(__name__)
ALIVE = "app:alive:{}"
ALIVE_SECONDS = 10
BEAT_SECONDS = 3
# Present while this Redis still holds what was enqueued into it; a Redis that lost its data lacks it.
KNOWN = "app:redis-known"
# While one worker re-enqueues lost work, the key says so; if that worker dies, another tries after this.
RECOVERING_SECONDS = 30
# Delete a lock only if the dead scheduler still holds it (another may have taken it meanwhile).
_RELEASE_IF_HELD_BY = redis.Redis().register_script(
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def beat(conn: redis.Redis, *names: str) -> None:
    """Say these workers (and schedulers) are alive for the next ALIVE_SECONDS."""
    pipe = conn.pipeline(transaction=False)
    for name in names:
        pipe.set(ALIVE.format(name), "1", ex=ALIVE_SECONDS)
    pipe.execute()


def _alive(conn: redis.Redis, name: str) -> bool:
    return bool(name) and bool(conn.exists(ALIVE.format(name)))


def reap(conn: redis.Redis, queues) -> tuple[list[str], bool]:
    """Hand the started jobs of dead workers to RQ's abandoned-job handling; free dead schedulers' locks.

    Returns the ids of the jobs found abandoned, and whether a lock was freed.
    """
    abandoned, freed = [], False
    for q in queues:
        # Failure callbacks run here, in a thread: their time limit cannot be a SIGALRM.
        registry = StartedJobRegistry(queue=q, death_penalty_class=TimerDeathPenalty)
        never_started = []
        for composite in conn.zrange(registry.key, 0, -1):
            composite = composite.decode()
            job_id, _, execution_id = composite.rpartition(":")
            worker_name = (conn.hget(f"rq:execution:{composite}", "worker_name") or b"").decode()
            if worker_name and not _alive(conn, worker_name):
                status = (conn.hget(Job.key_for(job_id), "status") or b"").decode()
                if status == JobStatus.QUEUED:
                    # Killed after taking the job but before marking it started: the job never ran,
                    # and RQ's cleanup drops such an entry without a retry, losing the job.
                    never_started.append(job_id)
                elif status:
                    # The attempt has ended (RQ records that only for a job that raised), so a retry
                    # asked for at the front of the queue goes there (Job.should_enqueue_at_front).
                    conn.hset(Job.key_for(job_id), "ended_at", utcformat(now()))
                # RQ's cleanup handles entries whose lease has expired: expire this one now.
                conn.zadd(registry.key, {composite: 1}, xx=True)
                abandoned.append(job_id)
        if abandoned:
            registry.cleanup(timestamp=2)
        _queue_again(conn, q, never_started)
        lock = SCHEDULER_LOCKING_KEY_TEMPLATE % q.name
        holder = (conn.get(lock) or b"").decode()
        if holder and not _alive(conn, holder):
            freed = bool(_RELEASE_IF_HELD_BY(keys=[lock], args=[holder], client=conn)) or freed
            log.warning("released queue %s's scheduler lock held by a scheduler that stopped (%s)", q.name, holder)
    for job_id in abandoned:
        log.warning("job %s was abandoned by a worker that stopped; handed to RQ for its retry", job_id)
    return abandoned, freed


def _queue_again(conn: redis.Redis, q, job_ids: list[str]) -> None:
    """Put jobs that a dead worker took but never started back at the front of their queue."""
    waiting = set(q.get_job_ids())
    for job_id in job_ids:
        if job_id in waiting:
            continue
        try:
            job = Job.fetch(job_id, connection=conn, serializer=q.serializer)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) == JobStatus.QUEUED:
            q.enqueue_job(job, at_front=True)
            log.warning("job %s was taken by a worker that stopped before starting it; queued again", job_id)


def take_over_scheduling(worker) -> None:
    """Start this worker's scheduler if it has none running (RQ itself retries only every 10 minutes)."""
    scheduler = getattr(worker, "scheduler", None)
    if scheduler is not None and (not scheduler._process or not scheduler._process.is_alive()):
        scheduler.acquire_locks(auto_start=True)


def _scheduler_running(worker) -> bool:
    scheduler = getattr(worker, "scheduler", None)
    return scheduler is not None and scheduler._process is not None and scheduler._process.is_alive()


def names(worker) -> list[str]:
    """The worker's name, and its scheduler's while that process runs (it exits when Redis goes away)."""
    return [worker.name] + ([worker.scheduler.name] if _scheduler_running(worker) else [])


def unscheduled(conn: redis.Redis, queues) -> bool:
    """Whether some queue has no scheduler lock at all (e.g. Redis restarted and its scheduler exited)."""
    return any(not conn.exists(SCHEDULER_LOCKING_KEY_TEMPLATE % q.name) for q in queues)


def recover_lost_work(conn: redis.Redis, database_url: str, cfg) -> dict[int, int] | None:
    """If Redis has lost its data since a worker last looked, enqueue again what Postgres says is unfinished.

    Returns {run id: chunks enqueued again} when this worker did it, None when there was nothing
    to do (or another worker is at it). Postgres being down leaves the claim to expire, so a later
    beat tries again.
    """
    if conn.exists(KNOWN) or not conn.set(KNOWN, "recovering", nx=True, ex=RECOVERING_SECONDS):
        return None
    with db.connect(database_url) as pg:
        added = invoicing.requeue_unfinished(pg, conn, cfg)
    conn.set(KNOWN, "1")
    for run_id, n in added.items():
        log.warning("Redis had lost invoice run %s's jobs: %s unfinished chunk(s) enqueued again", run_id, n)
    return added


def watch(worker, cfg: config.Config) -> threading.Thread:
    """Beat for `worker` now, then every BEAT_SECONDS in a daemon thread that also reaps and recovers.

    The thread has a Redis client of its own: the worker forks a work-horse for every job, and a
    fork must not happen while this thread holds a lock of the client the work-horse will use.
    """
    conn = queue.connect(cfg.redis_url)
    queues = [queue.queue(conn, q.name) for q in worker.queues]
    beat(conn, *names(worker))

    def once():
        beat(conn, *names(worker))
        _, freed = reap(conn, queues)
        if freed or unscheduled(conn, queues):
            take_over_scheduling(worker)
        recover_lost_work(conn, cfg.database_url, cfg)

    def loop():
        while True:
            time.sleep(BEAT_SECONDS)
            try:
                once()
            except redis.RedisError as exc:
                log.warning("liveness: Redis unavailable (%s); trying again in %s s", type(exc).__name__,
                            BEAT_SECONDS)
            except Exception as exc:  # Postgres down while recovering: the claim expires, a later beat retries
                log.warning("liveness: could not recover lost work (%s: %s); trying again later",
                            type(exc).__name__, exc)

    thread = threading.Thread(target=loop, name="liveness", daemon=True)
    thread.start()
    return thread
