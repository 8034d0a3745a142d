""""Which workers are up?" in Telegram: in a cluster the orchestrator calls list_workers and
answers from what the workers' heartbeats say."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cluster.registry import WorkerInfo
from core.config import Config
from tests.bots.test_orchestrator import orchestrator_requests
from tests.bots.test_telegram import ADA, serving, texts
from tests.conftest import make_config
from tests.core.jobs.redis_server import RedisServer
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with RedisServer(tmp_path / "redis") as server:
        yield server.url


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer, redis_url: str) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA]}),
        "cluster": base.cluster.model_copy(update={"redis_url": redis_url})})


async def test_which_workers_are_up_is_answered_from_their_heartbeats(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    model_server.script("SCRIPT:workers", [
        s.tool("list_workers", {}), s.text("One worker is up: gpu-1, running 1 of 4 runs.")])
    async with serving(config, telegram, model_server, repo) as (_, runtime):
        assert runtime.cluster is not None
        await runtime.cluster.workers.beat(WorkerInfo(
            name="gpu-1", version="1.0", host="gpu-host", pid=os.getpid(), max_runs=4,
            runs=["abcd1234"], started_at=time.time()))
        telegram.user_message(ADA, ADA, "SCRIPT:workers which workers are up?")
        await telegram.wait_for(lambda f: any(t.startswith("One worker is up")
                                              for t in texts(f, ADA)), timeout=60)
    [body] = [b for b in orchestrator_requests(model_server)
              if b["messages"][-1]["content"][0].get("type") == "tool_result"]
    result = body["messages"][-1]["content"][0]["content"]
    [listed] = json.loads(result if isinstance(result, str) else result[0]["text"])["workers"]
    assert (listed["name"], listed["runs"], listed["stale"]) == ("gpu-1", ["abcd1234"], False)
