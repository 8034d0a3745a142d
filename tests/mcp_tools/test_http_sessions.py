"""Sessions of the HTTP endpoint: an idle one expires, their number is bounded (the one idle
the longest goes first), and a request on a session that is gone gets 404, so its client
initialises again. /health tells a stranger nothing but "ok"."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bots.app import build_app
from bots.http_server import HttpServer
from core.config import Config
from core.runtime import Runtime
from mcp_tools.http import server_token
from mcp_tools.server import build_server

PROTOCOL = "2025-06-18"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}}
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}


def with_server(config: Config, **server: Any) -> Config:
    return config.model_copy(update={"server": config.server.model_copy(update=server)})


@asynccontextmanager
async def endpoint(runtime: Runtime, config: Config
                   ) -> AsyncIterator[tuple[str, httpx2.AsyncClient]]:
    server, _ = build_server(runtime)
    http_endpoint = HttpServer(build_app(config, server), config, port=0)
    url = await http_endpoint.start()
    headers = {"Authorization": f"Bearer {server_token(config)}",
               "Accept": "application/json, text/event-stream"}
    try:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            yield url, http
    finally:
        await http_endpoint.stop()


async def open_session(http: httpx2.AsyncClient, url: str) -> str:
    opened = await http.post(url, json=INIT)
    assert opened.status_code == 200, opened.text
    session: str = opened.headers["mcp-session-id"]
    done = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                           headers=headers_of(session))
    assert done.status_code == 202
    return session


def headers_of(session: str) -> dict[str, str]:
    return {"Mcp-Session-Id": session, "Mcp-Protocol-Version": PROTOCOL}


async def ping(http: httpx2.AsyncClient, url: str, session: str) -> int:
    return (await http.post(url, json=PING, headers=headers_of(session))).status_code


async def health(http: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    answer = await http.get(url.removesuffix("/mcp") + "/health")
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


async def test_an_idle_session_expires_and_its_client_is_told_to_initialise_again(
        runtime: Runtime) -> None:
    config = with_server(runtime.config, session_idle_timeout_seconds=0.5)
    async with endpoint(runtime, config) as (url, http):
        session = await open_session(http, url)
        assert (await health(http, url))["sessions"] == 1
        async with asyncio.timeout(10):  # no request on it meanwhile: /health is not one
            while True:
                if not (await health(http, url))["sessions"]:
                    break
                await asyncio.sleep(0.05)
        assert await ping(http, url, session) == 404
        again = await open_session(http, url)
        assert await ping(http, url, again) == 200


async def test_a_session_in_use_does_not_expire(runtime: Runtime) -> None:
    config = with_server(runtime.config, session_idle_timeout_seconds=1)
    async with endpoint(runtime, config) as (url, http):
        session = await open_session(http, url)
        for _ in range(20):  # 2 s of use, twice the idle timeout
            assert await ping(http, url, session) == 200
            await asyncio.sleep(0.1)


async def test_past_the_limit_the_session_idle_the_longest_is_closed(runtime: Runtime) -> None:
    config = with_server(runtime.config, max_sessions=3)
    async with endpoint(runtime, config) as (url, http):
        first, second, third = [await open_session(http, url) for _ in range(3)]
        assert await ping(http, url, first) == 200  # now `second` is the one idle the longest
        fourth = await open_session(http, url)
        assert await ping(http, url, second) == 404
        for session in (first, third, fourth):
            assert await ping(http, url, session) == 200
        assert (await health(http, url))["sessions"] == 3
        fifth = await open_session(http, url)  # `first` was used before the other two
        assert await ping(http, url, first) == 404
        for session in (third, fourth, fifth):
            assert await ping(http, url, session) == 200


async def test_sessions_never_closed_by_their_clients_stay_within_the_limit(
        runtime: Runtime) -> None:
    config = with_server(runtime.config, max_sessions=5)
    async with endpoint(runtime, config) as (url, http):
        sessions = [await open_session(http, url) for _ in range(40)]
        assert (await health(http, url))["sessions"] == 5
        answers = [await ping(http, url, s) for s in sessions]
    assert answers == [404] * 35 + [200] * 5


async def test_an_mcp_client_works_after_many_abandoned_sessions(runtime: Runtime) -> None:
    config = with_server(runtime.config, max_sessions=2)
    async with endpoint(runtime, config) as (url, http):
        for _ in range(5):
            await open_session(http, url)
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.call_tool("list_projects", {})
            assert listed.structured_content == {"projects": []}


async def test_health_says_only_ok_to_a_caller_without_the_token(runtime: Runtime) -> None:
    async with endpoint(runtime, runtime.config) as (url, http):
        await open_session(http, url)
        detailed = await health(http, url)
        async with httpx2.AsyncClient() as stranger:
            bare = await stranger.get(url.removesuffix("/mcp") + "/health")
            wrong = await stranger.get(url.removesuffix("/mcp") + "/health",
                                       headers={"Authorization": "Bearer nope"})
    assert bare.status_code == 200 and bare.json() == {"ok": True}
    assert wrong.status_code == 200 and wrong.json() == {"ok": True}
    assert detailed["ok"] is True and detailed["pid"] == os.getpid()
    assert detailed["sessions"] == 1 and detailed["max_sessions"] == 200
    assert detailed["session_idle_timeout_seconds"] == 1800


async def test_requests_that_open_no_session_close_none(runtime: Runtime) -> None:
    config = with_server(runtime.config, max_sessions=1)
    async with endpoint(runtime, config) as (url, http):
        session = await open_session(http, url)
        for _ in range(3):  # without a session id, only initialize opens one
            await http.post(url, json=PING)
            await http.post(url, content=b"{not json")
        assert await ping(http, url, session) == 200
