"""What only the Redis backend has: a Redis that goes away, leases of different lengths, and the
stream layout other tools (redis-cli, monitoring) see."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from core.jobs import JobState, QueueUnavailable, RetryPolicy
from core.jobs.redis_scripts import KEEP_SECONDS
from core.jobs.redis_streams import RedisJobQueue, redact
from tests.core.jobs.redis_server import RedisServer, free_port


async def test_enqueue_fails_with_one_line_naming_cluster_redis_url_when_redis_goes_away(
        redis_server: RedisServer) -> None:
    queue = await RedisJobQueue(redis_server.url).open()
    try:
        await queue.enqueue("run.start", {"n": 1})
        redis_server.stop()
        async with asyncio.timeout(15):
            with pytest.raises(QueueUnavailable) as caught:
                await queue.enqueue("run.start", {"n": 2})
        message = str(caught.value)
        assert "\n" not in message
        assert "cluster.redis_url" in message and f":{redis_server.port}" in message
        with pytest.raises(QueueUnavailable, match="cluster.redis_url"):
            await queue.claim("w", lease_seconds=1)
    finally:
        await queue.close()


async def test_a_password_in_the_url_never_shows_in_the_message() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    queue = RedisJobQueue(url)
    try:
        async with asyncio.timeout(15):
            with pytest.raises(QueueUnavailable) as caught:
                await queue.open()
    finally:
        await queue.close()
    assert "hunter2" not in str(caught.value)
    assert "redis://***@127.0.0.1:" in str(caught.value)
    assert "hunter2" not in redact("unix:///run/redis.sock?db=0&password=hunter2")


async def test_a_job_held_with_a_longer_lease_is_not_taken_by_a_worker_with_a_shorter_one(
        redis_server: RedisServer) -> None:
    queue = await RedisJobQueue(redis_server.url).open()
    try:
        job_id = await queue.enqueue("run.start", {})
        long = await queue.claim("patient", lease_seconds=30)
        assert long is not None
        # The short-lease worker sees the entry idle past its own lease many times over...
        loop = asyncio.get_running_loop()
        until = loop.time() + 1.5
        while loop.time() < until:
            assert await queue.claim("hasty", lease_seconds=0.2) is None
            await asyncio.sleep(0.05)
        # ...and hands it back each time: the holder still holds it.
        await queue.ack(long)
        assert (await queue.get(job_id)).state is JobState.DONE
    finally:
        await queue.close()


async def test_jobs_are_entries_of_a_stream_per_priority_read_by_one_consumer_group(
        redis_server: RedisServer) -> None:
    queue = await RedisJobQueue(redis_server.url).open()
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await queue.enqueue("run.start", {}, priority=0)
        await queue.enqueue("run.start", {}, priority=5)
        lease = await queue.claim("host-a", lease_seconds=30)
        assert lease is not None
        groups = await raw.xinfo_groups("gluon:jobs:stream:5")
        assert [(g["name"], g["pending"]) for g in groups] == [("workers", 1)]
        assert await raw.xlen("gluon:jobs:stream:0") == 1
        assert await raw.get(f"gluon:jobs:lease:{lease.job_id}") == str(lease.token)
        await queue.fail(lease, "boom", retry_at=0)
        assert (await raw.xinfo_groups("gluon:jobs:stream:5"))[0]["pending"] == 0
        again = await queue.claim("host-a", lease_seconds=30)  # due again: back in its stream
        assert again is not None and again.job_id == lease.job_id
        await queue.ack(again)
        assert await raw.xlen("gluon:jobs:stream:5") == 0  # acked entries are deleted
    finally:
        await raw.aclose()
        await queue.close()


async def test_a_job_done_or_dead_is_kept_a_week_with_its_key_and_leaves_the_indexes_once_gone(
        redis_server: RedisServer) -> None:
    queue = await RedisJobQueue(redis_server.url, policy=RetryPolicy(max_tries=1)).open()
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        done = await queue.enqueue("run.start", {}, key="run.start:r1:1")
        dead = await queue.enqueue("run.start", {}, key="run.start:r2:1")
        live = await queue.enqueue("run.start", {}, key="run.start:r3:1")
        first = await queue.claim("host-a", lease_seconds=30)
        second = await queue.claim("host-a", lease_seconds=30)
        assert first is not None and second is not None
        await queue.ack(first)
        assert await queue.fail(second, "boom") is JobState.DEAD
        for key in (f"gluon:jobs:job:{done}", "gluon:jobs:key:run.start:r1:1",
                    f"gluon:jobs:job:{dead}", "gluon:jobs:key:run.start:r2:1"):
            assert 0 < await raw.ttl(key) <= KEEP_SECONDS, key
        for key in (f"gluon:jobs:job:{live}", "gluon:jobs:key:run.start:r3:1"):
            assert await raw.ttl(key) == -1, key  # a job not ended yet lives on
        # Once a kept job is gone (expired), the next job to end takes its id off the indexes.
        await raw.delete(f"gluon:jobs:job:{done}", f"gluon:jobs:job:{dead}")
        third = await queue.claim("host-a", lease_seconds=30)
        assert third is not None and third.job_id == live
        await queue.ack(third)
        assert await raw.zrange("gluon:jobs:all", 0, -1) == [live]
        assert await raw.zrange("gluon:jobs:state:dead", 0, -1) == []
        assert [j.id for j in await queue.list(state=JobState.DONE)] == [live]
    finally:
        await raw.aclose()
        await queue.close()
