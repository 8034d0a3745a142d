"""A light client of Gluon's HTTP MCP endpoint, for the ``gluon`` command.

A command calls one tool, or a few, and ends. Importing the MCP SDK (and the HTTP stack under
it) takes longer than a whole command should, so this client speaks the protocol's JSON-RPC
itself: the ``initialize`` handshake, then ``tools/call`` POSTs with the bearer token, over the
standard library's ``http.client``. Each request runs in a daemon thread, so Ctrl-C returns at
once even while a long poll is open.

A tool's error comes back as :class:`ToolFailed` with its one-line message; losing the
connection (the Gluon at the other end stopped) as :class:`OwnerGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bots.owner import Owner, OwnerGone, ToolFailed

PROTOCOL_VERSION = "2025-11-25"
CONNECT_TIMEOUT = 10.0
# How the server prefixes a tool's error message (mcp_tools.registry.error_text strips it too).
ERROR_PREFIX = "Error executing tool "

T = TypeVar("T")


async def _in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a daemon thread: a cancelled await leaves it behind instead of waiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="gluon-http", daemon=True).start()
    return await future


def tool_error_text(text: str) -> str:
    """The user-facing part of a tool error ("Error executing tool x: <this>")."""
    if text.startswith(ERROR_PREFIX) and ": " in text:
        return text.split(": ", 1)[1]
    return text


class HttpTools:
    """The tools of the Gluon process that owns the data dir, over its HTTP endpoint."""

    remote = True
    runtime = None

    def __init__(self, owner: Owner, token: str, actor: str) -> None:
        self.owner = owner
        parts = urlsplit(owner.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/mcp"
        self.headers = {"Authorization": f"Bearer {token}", "X-Gluon-Actor": actor,
                        "Content-Type": "application/json",
                        "Accept": "application/json, text/event-stream"}
        self._next_id = 0

    async def open(self) -> HttpTools:
        """The protocol's handshake; OwnerGone when nothing answers at the owner's address."""
        self.headers.pop("Mcp-Session-Id", None)
        self.headers.pop("Mcp-Protocol-Version", None)
        result, headers = await self._rpc("initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "gluon-cli", "version": "1"}})
        if headers.get("mcp-session-id"):
            self.headers["Mcp-Session-Id"] = headers["mcp-session-id"]
        self.headers["Mcp-Protocol-Version"] = str(result.get("protocolVersion")
                                                   or PROTOCOL_VERSION)
        await self._rpc("notifications/initialized", None)
        return self

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        args = {k: v for k, v in (arguments or {}).items() if v is not None}
        result, _ = await self._rpc("tools/call", {"name": name, "arguments": args})
        if result.get("isError"):
            text = " ".join(str(c.get("text", "")) for c in result.get("content", [])
                            if isinstance(c, dict))
            raise ToolFailed(tool_error_text(text))
        structured = result.get("structuredContent")
        return dict(structured) if isinstance(structured, dict) else {}

    async def serve(self) -> None:
        """Nothing to do: the owner already serves the other commands."""

    async def close(self) -> None:
        """End the protocol session, so the owner does not keep it."""
        if "Mcp-Session-Id" in self.headers:
            with contextlib.suppress(ToolFailed):
                await _in_thread(lambda: self._send("DELETE", b""))
            del self.headers["Mcp-Session-Id"]

    # -- JSON-RPC over HTTP ------------------------------------------------------------------

    async def _rpc(self, method: str, params: dict[str, Any] | None
                   ) -> tuple[dict[str, Any], dict[str, str]]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        notification = method.startswith("notifications/")
        if not notification:
            self._next_id += 1
            message["id"] = self._next_id
        body = json.dumps(message).encode()
        status, headers, raw = await _in_thread(lambda: self._send("POST", body))
        if status == 404 and "Mcp-Session-Id" in self.headers and method != "initialize":
            await self.open()  # the server forgot the session (it restarted): a new one
            return await self._rpc(method, params)
        if status == 401:
            raise ToolFailed(f"Gluon at {self.owner.url} refused this command's bearer token; "
                             "the command must use the daemon's data dir and server.token")
        if notification and status in (200, 202, 204):
            return {}, headers
        if status != 200:
            detail = " ".join(raw.decode(errors="replace").split())[:200]
            raise ToolFailed(f"Gluon at {self.owner.url} answered HTTP {status}: {detail}")
        response = _parse(raw, headers.get("content-type", ""), message.get("id"))
        error = response.get("error")
        if isinstance(error, dict):
            raise ToolFailed(tool_error_text(str(error.get("message", error))))
        result = response.get("result")
        if not isinstance(result, dict):
            raise ToolFailed(f"Gluon at {self.owner.url} sent an answer without a result")
        return result, headers

    def _send(self, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=CONNECT_TIMEOUT)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(None)  # long polls: the server answers when it has news
            conn.request(method, self.path, body=body, headers=self.headers)
            response = conn.getresponse()
            data = response.read()
            return (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        except (OSError, http.client.HTTPException) as exc:
            raise OwnerGone(self.owner, str(exc) or type(exc).__name__) from None
        finally:
            conn.close()


def _parse(raw: bytes, content_type: str, request_id: object) -> dict[str, Any]:
    """The JSON-RPC response in a JSON body or in a server-sent event stream."""
    text = raw.decode(errors="replace")
    candidates = ([line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
                  if content_type.startswith("text/event-stream") else [text])
    for candidate in candidates:
        try:
            message = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    raise ToolFailed("Gluon sent an answer this command cannot read: "
                     + " ".join(text.split())[:200])
