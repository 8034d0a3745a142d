"""The job queue's backends, each on real storage: a SQLite file in tmp_path, and a real
``redis-server`` started for the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.jobs import JobQueue, Lease, RetryPolicy, SqliteJobQueue
from core.jobs.redis_streams import RedisJobQueue
from core.jobs.types import Clock
from tests.core.jobs.redis_server import RedisServer
from tests.fakes.clock import ManualClock

# Long enough that no stall of a busy test machine runs a Redis lease out unexpectedly.
LEASE = 1.0


@dataclass
class Backend:
    """One backend's storage, and queues opened on it (each like another worker's)."""

    name: str
    target: str  # the SQLite file, or the Redis URL
    clock: ManualClock = field(default_factory=ManualClock)
    opened: list[JobQueue] = field(default_factory=list)

    async def open(self, policy: RetryPolicy | None = None,
                   clock: Clock | None = None) -> JobQueue:
        queue: JobQueue
        if self.name == "sqlite":
            queue = await SqliteJobQueue.open_file(Path(self.target), clock=clock or self.clock,
                                                   policy=policy)
        else:
            queue = await RedisJobQueue(self.target, clock=clock or self.clock,
                                        policy=policy).open()
        self.opened.append(queue)
        return queue

    async def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass for leases: the manual clock moves, and for Redis, whose leases
        run on its own clock (key expiry, idle times), real time passes too."""
        self.clock.advance(seconds)
        if self.name == "redis":
            await asyncio.sleep(seconds)

    async def claim_after_lease(self, queue: JobQueue, worker: str,
                                lease_seconds: float = LEASE) -> Lease:
        """Let a lease of ``lease_seconds`` run out, then claim as soon as a job is claimable."""
        self.clock.advance(lease_seconds)
        return await claim_when_ready(queue, worker, lease_seconds)


async def claim_when_ready(queue: JobQueue, worker: str, lease_seconds: float = LEASE) -> Lease:
    """Claim as soon as a job is claimable (within 10 s), asking every 20 ms as a worker does."""
    async with asyncio.timeout(10):
        while True:
            lease = await queue.claim(worker, lease_seconds=lease_seconds)
            if lease is not None:
                return lease
            await asyncio.sleep(0.02)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    server: RedisServer | None = None
    if request.param == "redis":
        server = RedisServer(tmp_path / "redis").start()
        chosen = Backend("redis", server.url)
    else:
        chosen = Backend("sqlite", str(tmp_path / "gluon.db"))
    try:
        yield chosen
    finally:
        for queue in chosen.opened:
            await queue.close()
        if server is not None:
            server.stop()
