"""The board's workers panel, in a cluster: each worker up, draining or stale with its runs,
and its button drains or undrains it through the same tools as the command line. Without a
cluster there is no such panel."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.chat.migrations import CHAT_TABLES
from core.cluster.registry import WorkerInfo
from core.config import Config
from core.runtime import Runtime
from tests.conftest import daemon_environ
from tests.core.jobs.redis_server import RedisServer
from tests.web.site import serving


@pytest.fixture
async def clustered(config: Config, tmp_path: Path) -> AsyncIterator[Runtime]:
    with RedisServer(tmp_path / "redis") as server:
        cluster = config.cluster.model_copy(update={"redis_url": server.url})
        rt = Runtime(config.model_copy(update={"cluster": cluster}), environ=daemon_environ(),
                     tables=[CHAT_TABLES])
        await rt.open()
        try:
            yield rt
        finally:
            await rt.close()


def worker(name: str, runs: list[str]) -> WorkerInfo:
    return WorkerInfo(name=name, version="1.2.3", host="builder-7", pid=os.getpid(),
                      max_runs=3, runs=runs, started_at=time.time())


async def test_the_workers_panel_shows_each_worker_and_drains_and_undrains_it(
        clustered: Runtime) -> None:
    assert clustered.cluster is not None
    workers = clustered.cluster.workers
    await workers.beat(worker("w1", ["abcd1234"]))
    await workers.beat(worker("old", []).model_copy(update={"version": "0.9"}))
    await clustered.cluster.redis.hset("gluon:workers", "old", worker("old", []).model_copy(
        update={"last_seen": time.time() - 3600}).model_dump_json())
    async with serving(clustered) as site, site.person() as (http, csrf):
        panel = (await http.get("/")).text.split('id="panel-workers"', 1)[1].split(
            "</section>", 1)[0]
        up = panel.split('id="worker-w1"', 1)[1].split("</li>", 1)[0]
        assert "up" in up and "1/3 runs" in up and "abcd1234" in up and "gluon 1.2.3" in up
        assert ">Drain</button>" in up
        assert "stale" in panel.split('id="worker-old"', 1)[1].split("</li>", 1)[0]

        done = await http.post("/do/drain_worker", data={"csrf": csrf, "back": "/",
                                                         "name": "w1"})
        assert done.status_code == 303
        assert [w.draining for w in await workers.list() if w.name == "w1"] == [True]
        panel = (await http.get("/")).text.split('id="worker-w1"', 1)[1].split("</li>", 1)[0]
        assert "draining" in panel and ">Undrain</button>" in panel
        await http.post("/do/undrain_worker", data={"csrf": csrf, "back": "/", "name": "w1"})
        assert [w.draining for w in await workers.list() if w.name == "w1"] == [False]


async def test_without_a_cluster_the_board_has_no_workers_panel(runtime: Runtime) -> None:
    async with serving(runtime) as site, site.person() as (http, _):
        board = (await http.get("/")).text
        assert 'id="panel-schedules"' in board and 'id="panel-workers"' not in board
