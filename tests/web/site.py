"""The status page served as ``gluon serve`` serves it (the one HTTP app, a real uvicorn on a
free port) over a real runtime, and people signing in to it with links, as a browser would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bots.app import build_app
from bots.http_server import HttpServer
from bots.web import status_page
from core.runtime import Runtime
from core.types import Role
from mcp_tools.server import Tools, build_tools

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    runtime: Runtime
    tools: Tools
    base: str  # http://127.0.0.1:PORT

    async def link(self, actor: str = "cli", role: Role = Role.ADMIN, name: str = "") -> str:
        """A fresh one-time sign-in link's token."""
        return (await self.runtime.web.create_link(actor, role, name)).url.rsplit("/", 1)[1]

    @asynccontextmanager
    async def visitor(self) -> AsyncIterator[httpx.AsyncClient]:
        """A browser without a session (keeps the cookies it is given)."""
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            yield http

    @asynccontextmanager
    async def person(self, actor: str = "cli", role: Role = Role.ADMIN,
                     name: str = "") -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A browser signed in as ``actor`` through a link, and its CSRF token."""
        async with self.visitor() as http:
            signed = await http.post(f"/signin/{await self.link(actor, role, name)}")
            assert signed.status_code == 303, signed.text
            board = await http.get("/")
            assert board.status_code == 200, board.text
            found = CSRF.search(board.text)
            assert found
            yield http, found.group(1)


@asynccontextmanager
async def serving(runtime: Runtime, tools: Tools | None = None) -> AsyncIterator[Site]:
    tools = tools or build_tools(runtime)
    server = HttpServer(build_app(runtime.config, tools.server, status_page(runtime, tools)),
                        runtime.config, port=0)
    base = (await server.start()).removesuffix("/mcp")
    runtime.web.served_at = base
    try:
        yield Site(runtime, tools, base)
    finally:
        await server.stop()


@dataclass(frozen=True)
class Message:
    """One Server-Sent Event as a browser's EventSource gets it."""

    event: str
    data: str
    id: str | None


async def messages(stream: httpx.Response | AsyncIterator[str], count: int,
                   timeout: float = 60) -> list[Message]:  # noqa: ASYNC109
    """The first ``count`` events of a stream (keep-alive comments skipped); pass the same
    ``response.aiter_lines()`` again to read on."""
    found: list[Message] = []
    fields: dict[str, str] = {}
    lines = stream.aiter_lines() if isinstance(stream, httpx.Response) else stream
    async with asyncio.timeout(timeout):
        async for line in lines:
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                found.append(Message(fields.get("event", "message"), fields["data"],
                                     fields.get("id")))
                if len(found) == count:
                    return found
            fields = {}
    raise AssertionError(f"the stream ended after {len(found)} of {count} events")
