"""How a ``gluon`` command reaches the tools: the Gluon that owns the data dir, over HTTP, or a
Gluon of its own, for the command's lifetime, when none does.

Several commands at once without a daemon
-----------------------------------------
The first command that needs Gluon opens it in its own process. While it follows a run it also
serves the tools over HTTP (``daemon.json`` says ``"kind": "command"``), so the commands given
meanwhile reach it instead of waiting for the data dir. Its Gluon lives exactly as long as the
command: a command ends when its own work ends, never kept waiting by runs that other
commands started through it (a script's ``gluon run --wait && ...`` stays predictable).

When that command ends, or is killed, the runs others started in its Gluon stop as on any stop
of Gluon: ``interrupted``, with their session and worktree kept. Each command still following
one of them then takes the data dir over (the first to get the lock opens Gluon and serves it;
the others reach that one), resumes its run from its session, and goes on following it. So
every terminal sees its run to the end, and the data dir always has one owner.

A daemon's runs are never taken over: when ``gluon serve`` stops, a command following one of
its runs says so and ends, and the daemon resumes the run when it starts again (taking the data
dir would keep the daemon from restarting).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bots.cli.http_client import HttpTools
from bots.owner import (
    NeedsFullConfig,
    Owner,
    OwnerGone,
    ToolFailed,
    Where,
    find_owner,
    lock_held,
    where,
)

if TYPE_CHECKING:  # the heavy modules load only when this process runs Gluon itself
    from mcp import Client

    from bots.http_server import HttpServer
    from core.config import Config
    from core.runtime import Runtime
    from mcp_tools.registry import GluonServer

__all__ = ["OwnerGone", "Session", "ToolClient", "ToolFailed", "connect", "session"]

PATIENCE = 10.0
"""Seconds a command waits for another command's Gluon to let go of the data dir."""
TAKEOVER_PATIENCE = 120.0
"""Seconds a command following a run waits for the Gluon that ended to let go of it."""


class Tools(Protocol):
    @property
    def remote(self) -> bool: ...

    @property
    def owner(self) -> Owner | None: ...

    async def call(self, name: str, arguments: dict[str, Any] | None = None
                   ) -> dict[str, Any]: ...

    async def serve(self) -> None: ...


@dataclass
class ToolClient:
    """The tools through the MCP SDK's client: in-process over this process's runtime, or (for
    :func:`connect`) over HTTP."""

    client: Client
    remote: bool
    runtime: Runtime | None = None
    server: GluonServer | None = None  # the tools of `runtime`, served by serve()
    endpoint: HttpServer | None = field(default=None)
    owner: Owner | None = None

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        from mcp_tools.registry import error_text

        args = {k: v for k, v in (arguments or {}).items() if v is not None}
        result = await self.client.call_tool(name, args)
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content)
            raise ToolFailed(error_text(text))
        return dict(result.structured_content or {})

    async def serve(self) -> None:
        """Let other gluon commands reach this process's runtime while it lives."""
        if self.runtime is not None and self.server is not None and self.endpoint is None:
            from bots.app import build_app
            from bots.http_server import HttpServer

            app = build_app(self.runtime.config, self.server)
            self.endpoint = HttpServer(app, self.runtime.config, port=0, kind="command")
            await self.endpoint.start()


@dataclass
class _Own:
    """A runtime of this process, opened, and its tools."""

    runtime: Runtime
    server: GluonServer


async def _claim(home_of: Callable[[], Where], load: Callable[[], Config], patience: float
                 ) -> Owner | _Own:
    """Either the owner of the data dir, or a runtime of our own.

    Commands run at the same time without a daemon take turns: each holds the data dir only
    for its own lifetime, so a busy lock is waited for (``patience`` seconds) before giving up.
    Whatever can be done before taking the lock (loading Gluon, building its tools) is done
    first, so the others wait as little as possible.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    home = home_of().home
    prepared: _Own | None = None
    while True:
        if lock_held(home):
            owner = find_owner(home)
            if owner is not None:
                return owner
        if prepared is None:
            prepared = _prepare(load)
            deadline = loop.time() + patience  # the wait is for others, not for loading
        if not lock_held(home):
            from core.errors import Conflict

            try:
                await prepared.runtime.open(resume_interrupted=False)
                return prepared
            except Conflict:
                pass  # another command took the data dir first
        if loop.time() >= deadline:
            raise ToolFailed(f"another Gluon process is using {str(home)!r}; wait for it to "
                             "finish, or start `gluon serve` so commands can share it")
        await asyncio.sleep(0.05)


def _prepare(load: Callable[[], Config]) -> _Own:
    """A runtime (not opened yet) and its tools: a second or two of imports and schemas."""
    from core.runtime import Runtime
    from mcp_tools.server import build_server

    runtime = Runtime(load())
    server, _ = build_server(runtime)
    return _Own(runtime, server)


@contextlib.asynccontextmanager
async def _local(own: _Own, actor: str) -> AsyncIterator[ToolClient]:
    """The tools of this process's runtime, through an in-process MCP client; closes the
    runtime (and the HTTP endpoint, when it served one) at the end."""
    from mcp import Client

    from mcp_tools.registry import Caller, default_caller

    runtime = own.runtime
    token = default_caller.set(Caller(actor))
    tc: ToolClient | None = None
    try:
        async with Client(own.server) as client:
            tc = ToolClient(client, remote=False, runtime=runtime, server=own.server)
            yield tc
    finally:
        default_caller.reset(token)
        if tc is not None and tc.endpoint is not None:
            await tc.endpoint.stop()
        await runtime.close()
        # A stopped agent's or git's subprocess transport left in a reference cycle would be
        # collected after the event loop closed, and complain on stderr: collect it now.
        gc.collect()


@contextlib.asynccontextmanager
async def connect(config: Config, actor: str = "cli") -> AsyncIterator[ToolClient]:
    """The tools through the MCP SDK's client, for ``gluon mcp`` (which relays whole MCP
    messages) and tests."""
    owner = await _claim(lambda: Where(config.home, None), lambda: config, PATIENCE)
    if isinstance(owner, Owner):
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        from mcp_tools.http import server_token

        headers = {"Authorization": f"Bearer {server_token(config)}", "X-Gluon-Actor": actor}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=None)
                                      ) as http, Client(streamable_http_client(
                                          owner.url, http_client=http)) as client:
            yield ToolClient(client, remote=True, owner=owner)
        return
    async with _local(owner, actor) as tc:
        yield tc


class Session:
    """A ``gluon`` command's way to the tools, which can outlive the Gluon serving it.

    A daemon (or another command's Gluon) is reached with the light JSON-RPC client; otherwise
    the command opens Gluon itself. :meth:`reopen` finds the data dir's owner again after the
    one in use went away, taking the data dir over when nobody holds it.
    """

    def __init__(self, actor: str = "cli", env: dict[str, str] | None = None) -> None:
        self.actor = actor
        self.env = dict(os.environ if env is None else env)
        self.tools: Tools | None = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def connected(self) -> bool:
        """False between losing the owner and finding the next one."""
        return self.tools is not None

    @property
    def remote(self) -> bool:
        return self.tools is not None and self.tools.remote

    @property
    def owner(self) -> Owner | None:
        """Who runs the tools; None when this process does."""
        return self.tools.owner if self.tools is not None else None

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.tools is None:
            raise ToolFailed("this command lost its way to Gluon; run it again")
        return await self.tools.call(name, arguments)

    async def serve(self) -> None:
        assert self.tools is not None
        await self.tools.serve()

    def _where(self) -> Where:
        try:
            return where(self.env)
        except NeedsFullConfig:
            config = self._load()  # raises the config error in its one-line form
            return Where(config.home, None)

    def _load(self) -> Config:
        from core.config import load_config

        return load_config(self.env)

    async def open(self, patience: float = PATIENCE) -> Session:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            owner = await _claim(self._where, self._load, max(0.0, deadline - loop.time()))
            if not isinstance(owner, Owner):
                self.tools = await self._stack.enter_async_context(_local(owner, self.actor))
                return self
            token = self._where().token()
            if token is None:
                raise ToolFailed(f"{owner.describe()} serves the data dir, but there is no "
                                 "bearer token to reach it (mcp-token or server.token)")
            try:
                tools = await HttpTools(owner, token, self.actor).open()
            except OwnerGone:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)  # it is going away: find who owns the data dir next
                continue
            self._stack.push_async_callback(tools.close)
            self.tools = tools
            return self

    async def reopen(self) -> Session:
        """After the owner in use went away: the data dir's next owner, maybe this process."""
        await self.close()
        return await self.open(TAKEOVER_PATIENCE)

    async def close(self) -> None:
        self.tools = None
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        await stack.aclose()


@contextlib.asynccontextmanager
async def session(actor: str = "cli", env: dict[str, str] | None = None
                  ) -> AsyncIterator[Session]:
    s = Session(actor, env)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
