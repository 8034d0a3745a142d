"""A bound on the MCP sessions of the HTTP endpoint.

Clients that never close their session (a script that initialises for every call, a client
that crashed) would otherwise hold memory until the idle timeout. The MCP SDK closes a session
that had no request for ``idle_timeout`` seconds, and refuses new ones once ``max_sessions``
are open. Refusing would lock out every new client while abandoned sessions linger, so this
middleware makes room instead: before a request that opens a session, the session idle the
longest is closed the way its client would close it (an MCP ``DELETE``). A request on a closed
or expired session then gets 404, and the MCP specification has its client initialise again.

Only the MCP protocol is used to close a session; which sessions are open is learnt from the
traffic (the ``Mcp-Session-Id`` of a successful answer opens one; a 404 or a ``DELETE`` ends
it; so does ``idle_timeout`` without a request, as in the SDK).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from mcp_tools.jsonrpc import INTERNAL_ERROR, Rejected

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_HEADER = b"mcp-session-id"
# Set in the ASGI scope by CheckedMessages: the JSON-RPC method of the request (only
# "initialize" opens a session; other requests without a session id open none).
METHOD_KEY = "gluon.jsonrpc_method"


@dataclass
class _Session:
    last_used: float
    in_flight: int = 0


class SessionLimit:
    def __init__(self, app: ASGIApp, *, path: str, max_sessions: int, idle_timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.path = path
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.clock = clock
        # Least recently used first.
        self._sessions: dict[str, _Session] = {}

    @property
    def open_sessions(self) -> int:
        self._forget_expired()
        return len(self._sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sid = headers.get(SESSION_HEADER, b"").decode("latin-1") or None
        method = scope["method"]
        opening = sid is None and scope.get(METHOD_KEY) == "initialize"
        if opening and not await self._make_room(scope):
            busy = Rejected(None, INTERNAL_ERROR, f"Too many open sessions: all "
                            f"{self.max_sessions} are in use (server.max_sessions)")
            await Response(busy.to_json(), 503, media_type="application/json")(
                scope, receive, send)
            return
        session = self._sessions.pop(sid, None) if sid else None
        if session is not None:
            self._sessions[sid or ""] = session  # now the most recently used
            session.in_flight += 1
        status = 0
        opened: str | None = None

        async def watch(message: Any) -> None:
            nonlocal status, opened
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers") or []:
                    if name.lower() == SESSION_HEADER:
                        opened = bytes(value).decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if session is not None:
                session.in_flight -= 1
                session.last_used = self.clock()
            if sid and (status == 404 or (method == "DELETE" and 200 <= status < 300)):
                self._sessions.pop(sid, None)
            elif opened and opened not in self._sessions and 200 <= status < 300:
                self._sessions[opened] = _Session(self.clock())

    def _forget_expired(self) -> None:
        """Sessions the SDK has closed for being idle."""
        now = self.clock()
        for sid, session in list(self._sessions.items()):
            if not session.in_flight and now - session.last_used > self.idle_timeout:
                del self._sessions[sid]

    async def _make_room(self, scope: Scope) -> bool:
        """Close sessions idle the longest until a new one fits; False if all are busy."""
        self._forget_expired()
        while len(self._sessions) >= self.max_sessions:
            idle = next((sid for sid, s in self._sessions.items() if not s.in_flight), None)
            if idle is None:
                return False
            session = self._sessions.pop(idle)
            log.info("closing MCP session %s..., idle for %.0f s: %d sessions are open "
                     "(server.max_sessions)", idle[:8], self.clock() - session.last_used,
                     self.max_sessions)
            await self._close(idle, scope)
        return True

    async def _close(self, sid: str, scope: Scope) -> None:
        """Close a session as its client would: ``DELETE`` with its id."""
        request = {**scope, "method": "DELETE", "query_string": b"",
                   "headers": [(b"host", b"127.0.0.1"), (SESSION_HEADER, sid.encode())]}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        status = 0

        async def send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        try:
            await self.app(request, receive, send)
        except Exception:
            log.exception("closing MCP session %s... failed", sid[:8])
        if status not in (200, 204, 404):
            log.warning("closing MCP session %s... answered HTTP %d", sid[:8], status)
