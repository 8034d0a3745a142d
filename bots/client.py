"""How a ``gluon`` command reaches the tools: the running daemon over HTTP, or a runtime of its
own (for the command's lifetime) when no daemon owns the data dir."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from core.config import Config
from core.errors import Conflict
from core.runtime import Runtime
from mcp_tools.http import HttpEndpoint, read_daemon_file, server_token
from mcp_tools.registry import Caller, default_caller, error_text
from mcp_tools.server import build_server


class ToolFailed(Exception):
    """A tool returned an error; the message is one line for the user."""


@dataclass
class ToolClient:
    client: Client
    remote: bool
    runtime: Runtime | None = None
    endpoint: HttpEndpoint | None = field(default=None)

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        args = {k: v for k, v in (arguments or {}).items() if v is not None}
        result = await self.client.call_tool(name, args)
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content)
            raise ToolFailed(error_text(text))
        return dict(result.structured_content or {})

    async def serve(self) -> None:
        """Let other gluon commands reach this process's runtime while it lives."""
        if self.runtime is not None and self.endpoint is None:
            server, _ = build_server(self.runtime)
            self.endpoint = HttpEndpoint(self.runtime.config, server, port=0)
            await self.endpoint.start()


def _daemon_running(config: Config) -> bool:
    """True when another process holds the data dir's lock."""
    lock = config.home / "gluon.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


async def _owner(config: Config) -> tuple[dict[str, Any] | None, Runtime | None]:
    """Either the daemon that owns the data dir, or a runtime of our own.

    Commands run at the same time without a daemon take turns: each holds the data dir only
    for its own (short) lifetime, so a busy lock is waited for (up to ~10 s) before giving up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        if _daemon_running(config):
            daemon = read_daemon_file(config.home)
            if daemon is not None:
                return daemon, None
        else:
            runtime = Runtime(config)
            try:
                await runtime.open(resume_interrupted=False)
                return None, runtime
            except Conflict:
                pass  # another command took the data dir first
        if loop.time() >= deadline:
            raise ToolFailed(f"another Gluon process is using {str(config.home)!r}; wait for "
                             "it to finish, or start `gluon serve` so commands can share it")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def connect(config: Config, actor: str = "cli") -> AsyncIterator[ToolClient]:
    daemon, runtime = await _owner(config)
    if daemon is not None:
        headers = {"Authorization": f"Bearer {server_token(config)}", "X-Gluon-Actor": actor}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=None)
                                      ) as http, Client(streamable_http_client(
                                          str(daemon["url"]), http_client=http)) as client:
            yield ToolClient(client, remote=True)
        return
    assert runtime is not None
    token = default_caller.set(Caller(actor))
    tc: ToolClient | None = None
    try:
        server, _ = build_server(runtime)
        async with Client(server) as client:
            tc = ToolClient(client, remote=False, runtime=runtime)
            yield tc
    finally:
        default_caller.reset(token)
        if tc is not None and tc.endpoint is not None:
            await tc.endpoint.stop()
        await runtime.close()
