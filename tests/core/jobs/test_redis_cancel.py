"""A task cancelled while it talks to Redis stops: the cluster's loops (a worker's heartbeat,
a run's relay) are stopped by cancelling them, and whatever stops them waits for them."""

from __future__ import annotations

import asyncio

from core.jobs.redis_streams import connect
from tests.core.jobs.redis_server import RedisServer


async def test_a_task_cancelled_at_any_moment_of_its_redis_commands_stops(
        redis_server: RedisServer) -> None:
    redis = connect(redis_server.url)

    async def heartbeat(ended: asyncio.Event) -> None:
        while not ended.is_set():  # only so that a task that lost its cancellation ends
            await redis.hset("gluon:test", "w", "beat")
            await redis.hgetall("gluon:test")
            await asyncio.sleep(0)

    kept_going = 0
    try:
        # Cancelled at 150 moments spread over the commands' writes and reads: on Python 3.11
        # redis-py's own connections lose about half of these cancellations.
        for n in range(150):
            ended = asyncio.Event()
            task = asyncio.create_task(heartbeat(ended))
            await asyncio.sleep(0.00005 * n)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2)
            if not done:
                kept_going += 1
                ended.set()
                await task
    finally:
        await redis.aclose()
    assert kept_going == 0, f"{kept_going} of 150 cancelled tasks kept going"
