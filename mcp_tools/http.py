"""The tools over streamable HTTP at ``/mcp``, behind a bearer token: the routes and the
checks in front of the MCP SDK. The app and the server that serve them live in ``bots``.

The token is in ``<home>/mcp-token`` (mode 0600) unless the config sets ``server.token``.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    TransportSecuritySettings,
)
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

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


class McpEndpoint:
    """The tools over streamable HTTP at ``/mcp``, as routes for the app that serves them.

    The app (built in ``bots``) lists :attr:`routes` and enters :meth:`running` in its lifespan:
    a mounted app's own lifespan never runs, and the MCP session manager needs its task group
    before the first request. A request passes the bearer token check, then the JSON-RPC
    checks (:class:`CheckedMessages`), then the bound on sessions (:class:`SessionLimit`),
    then the MCP SDK.
    """

    PATH = "/mcp"

    def __init__(self, server: MCPServer, token: str, host: str,
                 hostnames: list[str] | None = None, *, max_sessions: int = 200,
                 session_idle_timeout: float = 1800.0) -> None:
        hosts = allowed_hosts(host, hostnames or [])
        origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
        # Builds the server's session manager; the Starlette app it returns is not used.
        server.streamable_http_app(
            streamable_http_path=self.PATH, json_response=True,
            transport_security=TransportSecuritySettings(allowed_hosts=hosts,
                                                         allowed_origins=origins),
            host=host, session_idle_timeout=session_idle_timeout,
            max_sessions=None)  # SessionLimit makes room instead of refusing new sessions
        self._manager = server.session_manager
        self.sessions = SessionLimit(StreamableHTTPASGIApp(self._manager), path=self.PATH,
                                     max_sessions=max_sessions,
                                     idle_timeout=session_idle_timeout)
        self.max_sessions = max_sessions
        self.session_idle_timeout = session_idle_timeout
        self._authorized = f"Bearer {token}".encode()
        self.app: ASGIApp = BearerAuth(CheckedMessages(self.sessions), token)

    @property
    def routes(self) -> list[BaseRoute]:
        return [Route(self.PATH, self.app)]  # an ASGI app as endpoint: every method

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The MCP session manager, for the serving app's lifespan (entered once)."""
        return self._manager.run()

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the bearer token."""
        given = (header or "").encode("latin-1", "replace")
        return hmac.compare_digest(given, self._authorized)

    def status(self) -> dict[str, Any]:
        """The sessions in use and their limits (for the token holder's health check)."""
        return {"sessions": self.sessions.open_sessions, "max_sessions": self.max_sessions,
                "session_idle_timeout_seconds": self.session_idle_timeout}
