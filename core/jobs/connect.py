"""Open the job queue the configuration asks for: Redis with ``[cluster] redis_url``, else the
SQLite table in ``gluon.db``."""

from __future__ import annotations

import logging

from core.config import Config
from core.jobs.backoff import RetryPolicy
from core.jobs.queue import JobQueue
from core.jobs.sqlite import SqliteJobQueue
from core.jobs.types import Clock, QueueUnavailable
from core.store.db import Database

log = logging.getLogger(__name__)


async def open_job_queue(config: Config, db: Database, *, clock: Clock | None = None,
                         policy: RetryPolicy | None = None, require: bool = True) -> JobQueue:
    """The queue, ready to use; QueueUnavailable when the configured Redis does not answer.

    ``db`` is the coordinator's open database; the SQLite queue keeps its table there and leaves
    closing it to the caller. With ``require`` false a Redis that does not answer is only
    logged: the queue is returned all the same, each call on it raises QueueUnavailable until
    Redis answers, and then it works (the client connects again by itself)."""
    if config.cluster.redis_url:
        # Imported here: redis is the optional `gluon[cluster]` extra.
        from core.jobs.redis_streams import RedisJobQueue

        queue = RedisJobQueue(config.cluster.redis_url, clock=clock, policy=policy)
        try:
            return await queue.open()
        except QueueUnavailable as exc:
            if require:
                await queue.close()
                raise
            log.warning("%s", exc)
            return queue
        except BaseException:
            await queue.close()
            raise
    return await SqliteJobQueue(db, clock=clock, policy=policy).open()
