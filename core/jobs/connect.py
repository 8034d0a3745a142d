"""Open the job queue the configuration asks for: Redis with ``[cluster] redis_url``, else the
SQLite table in ``gluon.db``."""

from __future__ import annotations

from core.config import Config
from core.jobs.backoff import RetryPolicy
from core.jobs.queue import JobQueue
from core.jobs.sqlite import SqliteJobQueue
from core.jobs.types import Clock
from core.store.db import Database


async def open_job_queue(config: Config, db: Database, *, clock: Clock | None = None,
                         policy: RetryPolicy | None = None, require: bool = True) -> JobQueue:
    """The queue, ready to use; QueueUnavailable when the configured Redis does not answer.

    ``db`` is the coordinator's open database; the SQLite queue keeps its table there and leaves
    closing it to the caller. With ``require`` false Redis is not asked yet: a command that never
    uses the queue does not wait on a Redis that does not answer; each call on the queue raises
    QueueUnavailable until Redis answers, and then it works (the client connects by itself)."""
    url = config.cluster.redis_url
    if url:
        # Imported here: redis is the optional `gluon[cluster]` extra.
        from core.jobs.redis_streams import RedisJobQueue

        cluster = config.cluster
        password = cluster.password.get_secret_value() if cluster.password else None
        queue = RedisJobQueue(url, clock=clock, policy=policy,
                              username=cluster.username, password=password)
        if not require:
            return queue  # nothing asked of Redis yet: the first call says if it answers
        try:
            return await queue.open()
        except BaseException:
            await queue.close()
            raise
    return await SqliteJobQueue(db, clock=clock, policy=policy).open()
