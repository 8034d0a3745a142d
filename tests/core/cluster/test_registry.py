"""The workers' registry on a real ``redis-server``: a worker not heard from for a day leaves
the list (and the draining set) at the next heartbeat of any worker."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from core.cluster import keys
from core.cluster.registry import WorkerInfo, Workers


def info(name: str, **fields: object) -> WorkerInfo:
    return WorkerInfo.model_validate({"name": name, "version": "1", "host": "h", "pid": 1,
                                      "max_runs": 2, **fields})


async def test_a_worker_gone_for_a_day_leaves_the_list_and_one_gone_for_less_stays(
        redis: aioredis.Redis) -> None:
    workers = Workers(redis, heartbeat_seconds=10)
    now = time.time()
    for name, seen in (("gone", now - keys.WORKER_SECONDS - 60), ("stale", now - 3600)):
        await redis.hset(keys.WORKERS, name, info(name, last_seen=seen).model_dump_json())
        await redis.sadd(keys.DRAINING, name)
    await workers.beat(info("up"))
    listed = {w.name: w for w in await workers.list()}
    assert sorted(listed) == ["stale", "up"]
    assert listed["stale"].stale and listed["stale"].draining
    assert await redis.smembers(keys.DRAINING) == {"stale"}
