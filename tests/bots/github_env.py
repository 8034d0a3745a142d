"""A Gluon serving webhooks over HTTP, with a project whose origin is a repository of the fake
GitHub (its URL rewritten by git to a local bare repository, so fetches and pushes work offline)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bots.app import build_app
from bots.chat.migrations import CHAT_TABLES
from bots.http_server import HttpServer
from core.config import Config
from core.hooks.store import Delivery, DeliveryState
from core.runtime import Runtime
from mcp_tools.server import build_server
from tests.conftest import daemon_environ, git
from tests.fakes.github import FakeGitHub
from tests.fakes.model_server import ScriptedModelServer

REPO = "octo/demo"
ORIGIN = f"https://github.com/{REPO}.git"
OPERATOR, VIEWER = "octocat", "watcher"


def github_config(home: Path, model_server: ScriptedModelServer, fake: FakeGitHub, *,
                  github_extra: dict[str, Any] | None = None, **extra: Any) -> Config:
    return Config.model_validate({
        "home": str(home),
        "anthropic": {"api_key": "sk-test", "base_url": model_server.base_url},
        "agents": {"max_concurrent": 8, "max_concurrent_per_project": 8, "warm": 0},
        "telegram": {"users": [42], "viewers": [7]},
        "github": {"token": fake.token, "api_url": fake.api_url,
                   "webhook_secret": fake.webhook_secret,
                   "users": {OPERATOR: "telegram:42", VIEWER: "telegram:7"},
                   **(github_extra or {})},
        **extra})


def link_origin(repo: Path, tmp: Path) -> Path:
    """Give ``repo`` the origin ``https://github.com/octo/demo.git``, served from a bare copy."""
    bare = tmp / "origin.git"
    git(tmp, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", ORIGIN)
    git(repo, "config", f"url.{bare}.insteadOf", ORIGIN)
    git(repo, "fetch", "-q", "origin")
    return bare


@dataclass
class Served:
    rt: Runtime
    url: str  # of the HTTP app, without a path
    github: FakeGitHub

    async def post(self, event: str, payload: dict[str, Any], *, secret: str | None = None,
                   delivery_id: str | None = None, path: str = "/hooks/github"
                   ) -> httpx.Response:
        headers, body = self.github.delivery(event, payload, secret=secret,
                                             delivery_id=delivery_id)
        async with httpx.AsyncClient() as http:
            return await http.post(self.url + path, content=body, headers=headers)

    async def delivery(self, seq: int, timeout: float = 60) -> Delivery:  # noqa: ASYNC109
        """Wait until delivery ``seq`` has been worked on."""
        store = self.rt.hooks.store
        async with asyncio.timeout(timeout):
            while True:
                found = await store.get(seq)
                assert found is not None
                if found.state is not DeliveryState.QUEUED:
                    return found
                await asyncio.sleep(0.05)


def seq_of(answer: httpx.Response) -> int:
    """The delivery number in a 202 answer ("queued as delivery 3")."""
    assert answer.status_code == 202, answer.text
    return int(json.loads(answer.text)["message"].rsplit(" ", 1)[1])


@contextlib.asynccontextmanager
async def serving(config: Config, repo: Path, github: FakeGitHub, *,
                  work: bool = True) -> AsyncIterator[Served]:
    """Gluon with the project ``demo`` at ``repo``, its HTTP app on a free port, and (with
    ``work``) the task that works through deliveries and updates GitHub."""
    rt = Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES])
    await rt.open()
    http: HttpServer | None = None
    task: asyncio.Task[None] | None = None
    try:
        if not any(p.name == "demo" for p in await rt.projects.all()):
            await rt.projects.add("demo", str(repo))
        server, _ = build_server(rt)
        http = HttpServer(build_app(config, server, hooks=rt.hooks), config, port=0)
        url = (await http.start()).removesuffix("/mcp")
        if work:
            task = asyncio.create_task(rt.hooks.run())
        yield Served(rt, url, github)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if http is not None:
            await http.stop()
        await rt.close()
