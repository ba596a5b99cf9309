"""The sync health console's sampler: a job that records every mapping's backlog and schedules itself again."""

from datetime import timedelta

from rq import Retry

from core import config, db, queue, sync_health

EVERY = timedelta(minutes=1)


def sample(reschedule: bool = False) -> int:
    """Take one sample of every mapping; with reschedule, enqueue the next one in a minute."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        taken = sync_health.take_sample(conn, cfg.connect_schema, cfg.app_schema)
    if reschedule:
        schedule(queue.connect(cfg.redis_url))
    return taken


def schedule(redis_conn, delay: timedelta = EVERY):
    """Enqueue the next sample (the worker's scheduler runs it when due)."""
    return queue.queue(redis_conn, "low").enqueue_in(delay, "worker.sync_health.sample", reschedule=True,
                                                     retry=Retry(max=2, interval=[10, 30]))
