"""The daemon in-process: one app on one port, one MCP server for /mcp and the chat bots, and a
chat bot that crashes started again while /mcp keeps serving."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bots.daemon import Daemon
from bots.supervisor import Backoff
from core.config import Config
from mcp_tools.http import server_token
from tests.conftest import until
from tests.fakes.discord import FakeDiscord
from tests.fakes.model_server import ScriptedModelServer

TOKEN = "MTAwMDAwMQ.fake.discord-token"
GUILD, GENERAL, ADA = 500, 600, 42


def daemon_config(tmp_path: Path, model_server: ScriptedModelServer,
                  **sections: dict[str, Any]) -> Config:
    return Config.model_validate({
        "home": str(tmp_path / "home"), "server": {"port": 0},
        "anthropic": {"api_key": "sk-test", "base_url": model_server.base_url}, **sections})


@asynccontextmanager
async def running(config: Config, backoff: Backoff | None = None
                  ) -> AsyncIterator[tuple[Daemon, asyncio.Task[None]]]:
    daemon = Daemon(config, backoff=backoff)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        async with asyncio.timeout(60):
            started = asyncio.create_task(daemon.started.wait())
            await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                started.cancel()
                await task  # raises what kept it from starting
        yield daemon, task
    finally:
        stop.set()
        async with asyncio.timeout(60):
            await task


@asynccontextmanager
async def mcp_client(config: Config, url: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {server_token(config)}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        yield client


def connected(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the daemon said a Discord bot has started."""
    return sum(r.getMessage().startswith("the Discord bot ") and "is connected" in
               r.getMessage() for r in caplog.records)


async def answered(fake: FakeDiscord, times: int) -> None:
    """Ask the bot for the projects and wait for its answer (the ``times``-th one)."""
    await fake.wait_for(lambda f: bool(f.commands(GUILD)), timeout=30)
    fake.slash(GENERAL, ADA, "projects")
    await fake.wait_for(lambda f: sum("No projects yet" in (m.content or "")
                                      for m in f.messages(GENERAL).values()) == times,
                        timeout=30)


async def test_the_daemon_serves_mcp_and_its_other_routes_from_one_app_on_one_port(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    config = daemon_config(tmp_path, model_server)
    async with running(config) as (daemon, _):
        assert daemon.url is not None
        root = daemon.url.removesuffix("/mcp")
        token = {"Authorization": f"Bearer {server_token(config)}"}
        async with mcp_client(config, daemon.url) as client, \
                httpx2.AsyncClient(timeout=30) as http:
            listed = await client.call_tool("list_projects", {})
            assert listed.structured_content == {"projects": []}
            stranger = await http.get(f"{root}/health")
            holder = await http.get(f"{root}/health", headers=token)
            no_token = await http.post(daemon.url, json={})
            elsewhere = await http.get(f"{root}/nothing-here", headers=token)
    assert stranger.json() == {"ok": True}
    assert holder.json()["pid"] == os.getpid() and "max_sessions" in holder.json()
    assert no_token.status_code == 401
    # Any other path is the status page's, which asks whoever has no session to sign in.
    assert elsewhere.status_code == 401 and "gluon web-link" in elsewhere.text
    assert not (config.home / "daemon.json").exists()


async def test_a_discord_bot_whose_gateway_ends_for_good_is_started_again_and_mcp_keeps_serving(
        tmp_path: Path, model_server: ScriptedModelServer,
        caplog: pytest.LogCaptureFixture) -> None:
    with FakeDiscord(token=TOKEN) as fake, fake.patch_discord():
        fake.add_guild(GUILD, "Team")
        fake.add_channel(GUILD, GENERAL, "general")
        fake.add_member(GUILD, ADA, "ada")
        config = daemon_config(tmp_path, model_server,
                               discord={"token": TOKEN, "users": [ADA], "guild": [GUILD]})
        caplog.set_level(logging.INFO, "bots.daemon")
        async with running(config, Backoff(first=0.1)) as (daemon, task):
            assert daemon.url is not None
            await until(lambda: connected(caplog) == 1, "the Discord bot's start")
            await answered(fake, 1)
            async with mcp_client(config, daemon.url) as client:
                # Discord closes the connection with a code discord.py does not recover from
                # (4011: sharding required): the bot's connection ends for good.
                fake.disconnect(4011, resumable=False)
                await fake.wait_for(lambda f: len(f.identifies) == 2, timeout=30)
                listed = await client.call_tool("list_projects", {})
                assert listed.structured_content == {"projects": []}
            await until(lambda: connected(caplog) == 2, "the new Discord bot's start")
            await answered(fake, 2)
            assert not task.done()
    crashes = [r for r in caplog.records if r.levelno == logging.ERROR
               and r.getMessage().startswith("the Discord bot crashed")]
    assert len(crashes) == 1, [r.getMessage() for r in caplog.records]
    assert "ConnectionClosed" in crashes[0].getMessage()
    assert "starting it again in 0.1 s" in crashes[0].getMessage()
