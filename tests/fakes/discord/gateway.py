"""The gateway websocket (aiohttp, on its own port): HELLO, IDENTIFY, RESUME,
heartbeats and member requests."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import WSMsgType, web
from starlette.applications import Starlette

from tests.fakes.discord.constants import APPLICATION_FLAGS, HEARTBEAT_MS, JSON
from tests.fakes.discord.payloads import op_frame
from tests.fakes.discord.state import Connection, Session
from tests.fakes.discord.world import World


class Gateway(World):
    """Serves the gateway, started from the REST app's lifespan."""

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        gateway = web.Application()
        gateway.router.add_get("/gateway", self._gateway)
        runner = web.AppRunner(gateway, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        self._gateway_port = sock.getsockname()[1]
        self._http.ready()
        try:
            yield
        finally:
            with self._cond:
                for conn in self._connections:
                    conn.put(1001)  # going away
            await runner.cleanup()
            sock.close()

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)

        async def frames() -> AsyncIterator[str]:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    yield message.data

        async def close(code: int) -> None:
            await ws.close(code=code)

        if request.query.get("encoding", "json") != "json":
            await close(4002)  # decode error: only JSON here, and compression never
            return ws
        await self._serve_gateway(frames(), ws.send_str, close)
        return ws

    async def _serve_gateway(self, frames: AsyncIterator[str],
                             send: Callable[[str], Awaitable[None]],
                             close: Callable[[int], Awaitable[None]]) -> None:
        """One gateway connection, whatever the websocket library."""
        conn = Connection()
        conn.put(op_frame(10, {"heartbeat_interval": HEARTBEAT_MS}))
        with self._cond:
            self._connections.append(conn)
        writer = asyncio.create_task(write_frames(conn.outbox, send, close))
        try:
            async for text in frames:
                try:
                    frame = json.loads(text)
                except ValueError:
                    conn.put(4002)
                    continue
                with self._cond:
                    self._on_frame(conn, frame)
        finally:
            conn.put(None)
            await writer
            with self._cond:
                self._connections.remove(conn)
                if conn.session is not None and conn.session.conn is conn:
                    conn.session.conn = None
                self._changed()

    def _on_frame(self, conn: Connection, frame: JSON) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            conn.put(op_frame(11, None))
        elif op == 2:
            self._identify(conn, d or {})
        elif op == 6:
            self._resume(conn, d or {})
        elif conn.session is None:
            conn.put(4003)  # not authenticated
        elif op == 8:
            self._member_chunk(conn, d or {})
        elif op not in (3, 4):  # presence and voice state updates are ignored
            conn.put(4001)  # unknown opcode

    def _identify(self, conn: Connection, d: JSON) -> None:
        if d.get("token") != self.token:
            conn.put(4004)  # authentication failed
            return
        if conn.session is not None:
            conn.put(4005)  # already authenticated
            return
        session = Session(uuid.uuid4().hex, int(d.get("intents") or 0), self._taken)
        self._sessions[session.id] = session
        conn.session, session.conn = session, conn
        self._identifies.append({k: v for k, v in d.items() if k != "token"})
        self._emit(conn, "READY", {
            "v": 10, "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self._guilds],
            "session_id": session.id, "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.app_id), "flags": APPLICATION_FLAGS},
            "private_channels": [], "relationships": [], "presences": [], "user_settings": {},
            "session_type": "normal", "_trace": ["fake-discord"]})
        for guild in self._guilds.values():
            self._emit(conn, "GUILD_CREATE", self._guild_json(guild))
        self._pump(conn)
        self._changed()

    def _resume(self, conn: Connection, d: JSON) -> None:
        if d.get("token") != self.token:
            conn.put(4004)
            return
        session = self._sessions.get(str(d.get("session_id")))
        if session is None:
            conn.put(op_frame(9, False))  # invalid session, not resumable: IDENTIFY again
            return
        if session.conn is not None and session.conn is not conn:
            session.conn.session = None
        conn.session, session.conn = session, conn
        seq = int(d.get("seq") or 0)
        for frame in session.sent:
            if frame["s"] > seq:
                conn.put(frame)
        self._resumes.append({k: v for k, v in d.items() if k != "token"})
        self._emit(conn, "RESUMED", {"_trace": ["fake-discord"]})
        self._pump(conn)
        self._changed()

    def _member_chunk(self, conn: Connection, d: JSON) -> None:
        guild = self._guilds.get(int(d.get("guild_id") or 0))
        members = list(guild.members.values()) if guild else []
        if ids := d.get("user_ids"):
            members = [m for m in members if int(m["user"]["id"]) in {int(i) for i in ids}]
        else:
            query = (d.get("query") or "").lower()
            members = [m for m in members if m["user"]["username"].lower().startswith(query)]
        chunk: JSON = {"guild_id": str(d.get("guild_id")), "chunk_index": 0, "chunk_count": 1,
                       "members": members[:d.get("limit") or None], "not_found": []}
        if "nonce" in d:
            chunk["nonce"] = d["nonce"]
        self._emit(conn, "GUILD_MEMBERS_CHUNK", chunk)



async def write_frames(outbox: asyncio.Queue[JSON | int | None],
                 send: Callable[[str], Awaitable[None]],
                 close: Callable[[int], Awaitable[None]]) -> None:
    """Send a connection's frames in order; an int (or None: 1000) closes it."""
    while True:
        item = await outbox.get()
        try:
            if isinstance(item, dict):
                await send(json.dumps(item))
                continue
            await close(1000 if item is None else item)
        except (ConnectionError, RuntimeError):
            pass  # the client went away first
        return
