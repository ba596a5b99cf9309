"""The sync health console's sampler job: one sample of every mapping, then (in a chain) the next one."""

from core import config, queue, sync_sampler


def sample(reschedule: bool = False) -> int:
    """RQ job: take one sample of every mapping; with reschedule, enqueue the next one in a minute."""
    cfg = config.load()
    taken = sync_sampler.sample(cfg)
    if reschedule:
        sync_sampler.schedule(queue.connect(cfg.redis_url), continuing=True)
    return taken
