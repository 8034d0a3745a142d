"""The daemon's HTTP server: how its connections behave on the wire."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bots.http_server import HttpServer
from core.config import Config


async def test_a_kept_alive_connection_answers_without_waiting_for_delayed_acks(
        tmp_path: Path) -> None:
    # A reply goes out as headers then body; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms) on every request after the first of a connection, as
    # every `gluon` command and MCP client over HTTP would notice.
    async def hello(_request: object) -> JSONResponse:
        return JSONResponse({"ok": True})

    (tmp_path / "home").mkdir()
    server = HttpServer(Starlette(routes=[Route("/hello", hello)]),
                        Config(home=tmp_path / "home"), port=0)
    url = await server.start()
    try:
        host, port = url.removeprefix("http://").removesuffix("/mcp").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /hello HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        assert b"200 OK" in await reader.readuntil(b"\r\n\r\n")
        inner = server._server
        assert inner is not None
        [connection] = inner.server_state.connections
        accepted = connection.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()
    finally:
        await server.stop()
