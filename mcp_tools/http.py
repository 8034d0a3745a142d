"""Serving the tools over streamable HTTP at ``/mcp``, behind a bearer token.

The process that owns a data dir writes ``<home>/daemon.json`` (where it listens) so other
``gluon`` commands can reach it; the token is in ``<home>/mcp-token`` (mode 0600) unless the
config sets ``server.token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    TransportSecuritySettings,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from core.config import Config
from mcp_tools.http_sessions import METHOD_KEY, SessionLimit
from mcp_tools.jsonrpc import INVALID_REQUEST, Rejected, decode

log = logging.getLogger(__name__)

# The largest request body read (the MCP SDK's own limit is the same).
MAX_BODY = DEFAULT_MAX_REQUEST_BODY_SIZE

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def server_token(config: Config) -> str:
    """The bearer token of the HTTP endpoint: from the config, else a generated one."""
    if config.server.token is not None:
        return config.server.token.get_secret_value()
    path = config.home / "mcp-token"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    return token


class BearerAuth:
    """Rejects requests without ``Authorization: Bearer <token>`` (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse({"error": "missing or wrong bearer token"}, 401,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CheckedMessages:
    """Answers a POST whose body is not one JSON-RPC message with a JSON-RPC error (see
    :mod:`mcp_tools.jsonrpc`) before the MCP SDK sees it, so the client never waits for an
    answer that will not come; other bodies pass on unchanged."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                too_big = Rejected(None, INVALID_REQUEST, f"Invalid request: the body is over "
                                   f"{self.max_body} bytes")
                await _reply(too_big, 413, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        decoded = decode(bytes(body))
        if isinstance(decoded, Rejected):
            await _reply(decoded, 400, scope, receive, send)
            return
        replayed = False
        scope = {**scope, METHOD_KEY: getattr(decoded, "method", None)}

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _reply(rejected: Rejected, status: int, scope: Scope,
                 receive: Callable[[], Awaitable[Any]],
                 send: Callable[[Any], Awaitable[None]]) -> None:
    response = Response(rejected.to_json(), status, media_type="application/json")
    await response(scope, receive, send)


def allowed_hosts(host: str, hostnames: list[str]) -> list[str]:
    """The Host headers the endpoint answers: loopback, the listening address and the
    configured names, with any port (DNS-rebinding protection)."""
    names = ["127.0.0.1", "localhost", "[::1]", host, *hostnames]
    unique = list(dict.fromkeys(n for n in names if n not in ("0.0.0.0", "::", "")))
    return [h for n in unique for h in (n, f"{n}:*")]


def build_app(server: MCPServer, token: str, host: str,
              hostnames: list[str] | None = None, *, max_sessions: int = 200,
              session_idle_timeout: float = 1800.0) -> Starlette:
    hosts = allowed_hosts(host, hostnames or [])
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    mcp_app = server.streamable_http_app(
        transport_security=TransportSecuritySettings(allowed_hosts=hosts,
                                                     allowed_origins=origins), host=host,
        json_response=True, session_idle_timeout=session_idle_timeout,
        max_sessions=None)  # SessionLimit makes room instead of refusing new sessions
    sessions = SessionLimit(mcp_app, path="/mcp", max_sessions=max_sessions,
                            idle_timeout=session_idle_timeout)
    authorized = f"Bearer {token}".encode()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    async def health(request: Request) -> Response:
        """"ok" to anyone (a liveness probe); details only with the bearer token."""
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, authorized):
            return JSONResponse({"ok": True})
        return JSONResponse({"ok": True, "pid": os.getpid(), "version": version("gluon"),
                             "sessions": sessions.open_sessions,
                             "max_sessions": max_sessions,
                             "session_idle_timeout_seconds": session_idle_timeout})

    return Starlette(routes=[Route("/health", health),
                             Mount("/", app=BearerAuth(CheckedMessages(sessions), token))],
                     lifespan=lifespan)


class HttpEndpoint:
    """uvicorn serving the app as a task of this process; writes and removes daemon.json."""

    def __init__(self, config: Config, server: MCPServer, *, port: int | None = None,
                 kind: str = "serve") -> None:
        self.config = config
        self.kind = kind  # in daemon.json: "serve", or "command" for a command's own Gluon
        self.host = config.server.host
        self.port = config.server.port if port is None else port
        self.app = build_app(server, server_token(config), self.host,
                             config.server.hostnames, max_sessions=config.server.max_sessions,
                             session_idle_timeout=config.server.session_idle_timeout_seconds)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self._server is not None and self._server.servers
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}/mcp"

    async def start(self) -> str:
        cfg = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                             lifespan="on")
        self._server = uvicorn.Server(cfg)
        self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self._task = asyncio.create_task(self._server.serve(), name="gluon-http")
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError(f"could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        write_daemon_file(self.config.home, self.url, self.kind)
        return self.url

    async def stop(self) -> None:
        remove_daemon_file(self.config.home)
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 10)
            self._server = None


def write_daemon_file(home: Path, url: str, kind: str = "serve") -> None:
    path = home / "daemon.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "kind": kind}))
    tmp.replace(path)


def remove_daemon_file(home: Path) -> None:
    path = home / "daemon.json"
    with contextlib.suppress(FileNotFoundError, ValueError, json.JSONDecodeError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def read_daemon_file(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((home / "daemon.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "url" in data else None
