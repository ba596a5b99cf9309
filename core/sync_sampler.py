"""The sync console's samples: one now, or a chain of one a minute on the worker (docs/sync-console.md).

`python manage.py sync-health sample` (Heroku Scheduler) calls `sample()` directly; `make run` and
`python manage.py sync-health schedule` start the chain with `schedule()`, which enqueues the
worker's job by dotted path, so nothing that starts it imports worker code.
"""

from datetime import timedelta

from rq import Retry

from core import config, connect_info, db, queue, sync_health

SAMPLE_JOB = "worker.sync_health.sample"
EVERY = timedelta(minutes=1)
# Set while a chain of samples is alive, so starting the sampler twice does not start two chains.
CHAIN_KEY = "sync-health:sampler"


def sample(cfg: config.Config) -> int:
    """Record every mapping's backlog, oldest waiting change and errors once; return how many mappings."""
    with db.connect(cfg.database_url) as conn:
        return sync_health.take_sample(conn, cfg.connect_schema, cfg.app_schema,
                                       info=connect_info.provider(cfg.connect_info))


def schedule(redis_conn, delay: timedelta = EVERY, *, continuing: bool = False) -> bool:
    """Enqueue the next sample (the worker's scheduler runs it when due); False if a chain is already alive."""
    ttl = int(delay.total_seconds() * 3)
    if continuing:
        redis_conn.set(CHAIN_KEY, "1", ex=ttl)
    elif not redis_conn.set(CHAIN_KEY, "1", ex=ttl, nx=True):
        return False
    queue.queue(redis_conn, "low").enqueue_in(delay, SAMPLE_JOB, reschedule=True, retry=Retry(max=2, interval=[10, 30]))
    return True
