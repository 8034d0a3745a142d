"""The cluster as ``gluon serve`` sees it (``[cluster] redis_url``): the workers' registry, and
with ``run_on = "workers"`` the dispatcher that hands runs to the workers and the ingest of
what the workers relay back. Built by the runtime, which owns its task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from core.cluster import keys, link
from core.cluster.on_coordinator.dispatch import Dispatcher
from core.cluster.on_coordinator.ingest import RelayIngest
from core.cluster.on_coordinator.store import ClusterStore
from core.cluster.registry import Workers
from core.config import Config
from core.jobs.backoff import RetryPolicy
from core.jobs.redis_streams import RedisJobQueue
from core.runs.service import RunManager

log = logging.getLogger(__name__)

EXEC_POLICY = RetryPolicy(max_tries=100, base_seconds=1.0, max_seconds=30.0)
"""A run.exec job is tried again by other workers: after a refusal (a few seconds), after its
worker died (its lease); it dies only after very many (the dispatcher fails its run sooner,
once every worker up has refused it)."""


def exec_queue(config: Config) -> RedisJobQueue:
    """The queue of ``run.exec`` jobs on the cluster's Redis."""
    cluster = config.cluster
    assert cluster.redis_url
    password = cluster.password.get_secret_value() if cluster.password else None
    return RedisJobQueue(cluster.redis_url, prefix=keys.EXEC_PREFIX, policy=EXEC_POLICY,
                         username=cluster.username, password=password)


class Cluster:
    def __init__(self, config: Config, runs: RunManager, store: ClusterStore, *,
                 coordinator_url: Callable[[], str]) -> None:
        self.config = config
        self.redis = link.client(config.cluster)
        self.workers = Workers(self.redis, heartbeat_seconds=config.cluster.lease_seconds / 3)
        self.dispatcher: Dispatcher | None = None
        self.ingest: RelayIngest | None = None
        self._queue: RedisJobQueue | None = None
        self._task: asyncio.Task[None] | None = None
        if config.cluster.remote:
            self._queue = exec_queue(config)
            self.dispatcher = Dispatcher(runs, self.redis, self._queue, store, self.workers,
                                         coordinator_url=coordinator_url)
            self.ingest = RelayIngest(runs, store, self.dispatcher, self.redis)
            runs.remote = self.dispatcher

    def start(self) -> None:
        """Read the relay from now on (runs executing on workers)."""
        if self.ingest is not None and self._task is None:
            self._task = asyncio.create_task(self.ingest.run(), name="gluon-relay-ingest")

    async def check(self) -> None:
        """ClusterUnavailable (one line naming cluster.redis_url) unless Redis answers."""
        with link.answering(self.config.cluster):
            await self.redis.ping()

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._queue is not None:
            await self._queue.close()
        await self.redis.aclose()
