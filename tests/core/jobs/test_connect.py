"""``[cluster] redis_url`` chooses the job queue: Redis Streams with it, SQLite without."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigError
from core.jobs import QueueUnavailable, SqliteJobQueue, open_job_queue
from core.jobs.redis_streams import RedisJobQueue
from core.store.db import Database
from tests.core.jobs.redis_server import RedisServer, free_port


def empty_toml(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


async def test_without_a_redis_url_the_queue_is_a_table_in_gluon_db(tmp_path: Path) -> None:
    config = load_config(env={"GLUON_HOME": str(tmp_path)}, path=empty_toml(tmp_path))
    assert config.cluster.redis_url is None
    db = Database(config.db_path)
    await db.open()
    try:
        queue = await open_job_queue(config, db)
        assert isinstance(queue, SqliteJobQueue)
        await queue.enqueue("run.start", {})
        assert len(await queue.list()) == 1
    finally:
        await db.close()


async def test_a_redis_url_in_the_environment_puts_the_queue_in_redis(
        tmp_path: Path, redis_server: RedisServer) -> None:
    config = load_config(env={"GLUON_HOME": str(tmp_path),
                              "GLUON_CLUSTER_REDIS_URL": redis_server.url},
                         path=empty_toml(tmp_path))
    db = Database(config.db_path)
    await db.open()
    queue = await open_job_queue(config, db)
    try:
        assert isinstance(queue, RedisJobQueue)
        job_id = await queue.enqueue("run.start", {})
        assert (await queue.get(job_id)).kind == "run.start"
    finally:
        await queue.close()
        await db.close()


async def test_a_configured_redis_that_does_not_answer_stops_the_start_with_one_line(
        tmp_path: Path) -> None:
    toml = tmp_path / "config.toml"
    toml.write_text(f'[cluster]\nredis_url = "redis://127.0.0.1:{free_port()}/0"\n')
    config = load_config(env={"GLUON_HOME": str(tmp_path)}, path=toml)
    db = Database(config.db_path)
    await db.open()
    try:
        async with asyncio.timeout(15):
            with pytest.raises(QueueUnavailable) as caught:
                await open_job_queue(config, db)
    finally:
        await db.close()
    assert "cluster.redis_url" in str(caught.value) and "\n" not in str(caught.value)


def test_a_redis_url_that_is_not_one_names_the_key_and_hides_the_value(tmp_path: Path) -> None:
    toml = tmp_path / "config.toml"
    toml.write_text('[cluster]\nredis_url = "http://user:s3cret@cache:6379"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GLUON_HOME": str(tmp_path)}, path=toml)
    message = str(caught.value)
    assert "cluster.redis_url" in message and "redis://" in message
    assert "s3cret" not in message


async def test_a_queue_opened_without_requiring_redis_answers_again_once_redis_is_up(
        tmp_path: Path) -> None:
    port = free_port()
    toml = tmp_path / "config.toml"
    toml.write_text(f'[cluster]\nredis_url = "redis://127.0.0.1:{port}/0"\n')
    config = load_config(env={"GLUON_HOME": str(tmp_path)}, path=toml)
    db = Database(config.db_path)
    await db.open()
    queue = await open_job_queue(config, db, require=False)
    try:
        async with asyncio.timeout(15):
            with pytest.raises(QueueUnavailable, match="cluster.redis_url"):
                await queue.enqueue("run.start", {"run_id": "r1"})
        with RedisServer(tmp_path / "redis", port=port):
            await queue.ping()
            job_id = await queue.enqueue("run.start", {"run_id": "r1"})
            assert (await queue.get(job_id)).payload == {"run_id": "r1"}
    finally:
        await queue.close()
        await db.close()
