"""The workers' registry: who is up, what each runs, and draining.

Every worker writes its heartbeat into the ``gluon:workers`` hash every third of the lease
(name, version, pid, host, how many runs it takes, the runs it executes, its load average,
when it was last seen, whether it drains). A worker not seen for three heartbeats is *stale*:
it died, hangs or lost Redis (its runs are taken over by others once their leases run out).

Draining is kept apart from the heartbeat (the ``gluon:workers:draining`` set), so it is
reversible from any process and survives the worker's restart: a draining worker finishes its
runs and takes no new ones until it is undrained. A worker not heard from for a day
(``keys.WORKER_SECONDS``) is dropped from both by the others' heartbeats.
"""

from __future__ import annotations

import builtins
import json
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from core.cluster import keys
from core.errors import NotFound

if TYPE_CHECKING:  # redis is the `gluon[cluster]` extra; this module's models are not
    import redis.asyncio as aioredis


class WorkerInfo(BaseModel):
    """A worker as its last heartbeat described it."""

    name: str
    version: str = Field(description="the Gluon version it runs")
    host: str
    pid: int
    max_runs: int = Field(description="how many runs it executes at once")
    runs: list[str] = Field(default_factory=list, description="the runs it executes now")
    projects: list[str] = Field(default_factory=list,
                                description="the projects it takes runs of; empty: all")
    load: float = Field(default=0.0, description="the host's 1-minute load average")
    started_at: float = 0.0
    last_seen: float = Field(default=0.0, description="its last heartbeat, unix seconds")
    draining: bool = Field(default=False, description="finishes its runs, takes no new ones")
    stale: bool = Field(default=False, description="not heard from for three heartbeats: down")


class WorkerList(BaseModel):
    workers: list[WorkerInfo]


class Workers:
    """Heartbeats, the list of workers, and draining, over the cluster's Redis."""

    def __init__(self, redis: aioredis.Redis, *, heartbeat_seconds: float) -> None:
        self.redis = redis
        self.heartbeat_seconds = heartbeat_seconds

    async def beat(self, info: WorkerInfo) -> bool:
        """Record a worker's heartbeat; whether it is to drain."""
        draining = bool(await self.redis.sismember(keys.DRAINING, info.name))
        info = info.model_copy(update={"last_seen": time.time(), "draining": draining})
        await self.redis.hset(keys.WORKERS, info.name,
                              info.model_dump_json(exclude={"stale"}))
        await self._forget_gone(info.last_seen)
        return draining

    async def _forget_gone(self, now: float) -> None:
        """The workers not heard from for ``keys.WORKER_SECONDS`` leave the list (and the
        draining set): they are not coming back under that name."""
        for name, text in (await self.redis.hgetall(keys.WORKERS)).items():
            try:
                seen = float(json.loads(text).get("last_seen", 0))
            except (ValueError, TypeError, AttributeError):
                continue
            if now - seen > keys.WORKER_SECONDS:
                await self.redis.hdel(keys.WORKERS, name)
                await self.redis.srem(keys.DRAINING, name)

    async def leave(self, name: str) -> None:
        """A worker that stops cleanly takes itself off the list."""
        await self.redis.hdel(keys.WORKERS, name)

    async def list(self, now: float | None = None) -> list[WorkerInfo]:
        """Every worker that has sent a heartbeat and not left, by name, stale ones flagged."""
        now = time.time() if now is None else now
        rows = await self.redis.hgetall(keys.WORKERS)
        draining = set(await self.redis.smembers(keys.DRAINING))
        found: list[WorkerInfo] = []
        for name, text in sorted(rows.items()):
            try:
                info = WorkerInfo.model_validate(json.loads(text))
            except (ValueError, ValidationError):
                continue  # written by another version of Gluon; it will write again
            found.append(info.model_copy(update={
                "draining": name in draining,
                "stale": now - info.last_seen > 3 * self.heartbeat_seconds}))
        return found

    async def live(self) -> builtins.list[WorkerInfo]:
        """The workers up now that take new runs (neither stale nor draining)."""
        return [w for w in await self.list() if not w.stale and not w.draining]

    async def drain(self, name: str) -> WorkerInfo:
        """Let the worker finish its runs and take no new ones (``undrain`` reverses it)."""
        info = await self._named(name)
        await self.redis.sadd(keys.DRAINING, info.name)
        return info.model_copy(update={"draining": True})

    async def undrain(self, name: str) -> WorkerInfo:
        """Let a draining worker take new runs again."""
        info = await self._named(name)
        await self.redis.srem(keys.DRAINING, info.name)
        return info.model_copy(update={"draining": False})

    async def _named(self, name: str) -> WorkerInfo:
        workers = await self.list()
        for info in workers:
            if info.name == name:
                return info
        known = ", ".join(w.name for w in workers) or "none is up"
        raise NotFound(f"no worker named {name!r}; the workers: {known} (`gluon workers`)")
