"""The sync health console's sampler: a job that records every mapping's backlog and schedules itself again."""

from datetime import timedelta

from rq import Retry

from core import config, db, queue, sync_health

EVERY = timedelta(minutes=1)
# Set while a chain of samples is alive, so starting the sampler twice does not start two chains.
CHAIN_KEY = "sync-health:sampler"


def sample(reschedule: bool = False) -> int:
    """Take one sample of every mapping; with reschedule, enqueue the next one in a minute."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        taken = sync_health.take_sample(conn, cfg.connect_schema, cfg.app_schema)
    if reschedule:
        schedule(queue.connect(cfg.redis_url), continuing=True)
    return taken


def schedule(redis_conn, delay: timedelta = EVERY, *, continuing: bool = False) -> bool:
    """Enqueue the next sample (the worker's scheduler runs it when due); False if a chain is already alive."""
    ttl = int(delay.total_seconds() * 3)
    if continuing:
        redis_conn.set(CHAIN_KEY, "1", ex=ttl)
    elif not redis_conn.set(CHAIN_KEY, "1", ex=ttl, nx=True):
        return False
    queue.queue(redis_conn, "low").enqueue_in(delay, "worker.sync_health.sample", reschedule=True,
                                              retry=Retry(max=2, interval=[10, 30]))
    return True
