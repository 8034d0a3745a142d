"""uvicorn serving Gluon's app on the configured address, and ``daemon.json`` saying where.

The process that owns a data dir writes ``<home>/daemon.json`` (its URL, pid and kind) so
other ``gluon`` commands can reach it, and removes it when it stops serving. Signals belong to
the process (the daemon's supervisor shuts down in order), so uvicorn installs no handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from core.config import Config

SHUTDOWN_GRACE = 2
"""Seconds requests in flight get to finish when the server stops (a long wait, such as
wait_for_run, is cut: its client sees the server go and says so)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # uvicorn would take SIGINT/SIGTERM from the process and re-raise them later


class HttpServer:
    """uvicorn serving ``app`` as a task of this process; writes and removes daemon.json."""

    def __init__(self, app: ASGIApp, config: Config, *, port: int | None = None,
                 kind: str = "serve") -> None:
        self.app = app
        self.home = config.home
        self.kind = kind  # in daemon.json: "serve", or "command" for a command's own Gluon
        self.host = config.server.host
        self.port = config.server.port if port is None else port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        """The URL of ``/mcp``."""
        assert self._server is not None and self._server.servers
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}/mcp"

    async def start(self) -> str:
        """Listen (raising ``OSError`` when the address is taken) and say where."""
        sock = _bind(self.host, self.port)  # here, not in uvicorn, which would exit the process
        cfg = uvicorn.Config(self.app, log_level="warning", lifespan="on",
                             timeout_graceful_shutdown=SHUTDOWN_GRACE)
        self._server = _Server(cfg)
        self._task = asyncio.create_task(self._server.serve([sock]), name="gluon-http")
        while not self._server.started:
            if self._task.done():
                sock.close()
                await self._task
                raise OSError(f"could not serve on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        write_daemon_file(self.home, self.url, self.kind)
        return self.url

    async def wait(self) -> None:
        """Until the server stops by itself (it does not, unless it crashed); raises what
        stopped it."""
        assert self._task is not None
        await asyncio.wait({self._task})
        if not self._stopping:
            self._task.result()

    async def stop(self) -> None:
        """Stop listening and remove daemon.json (idempotent)."""
        self._stopping = True
        remove_daemon_file(self.home)
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(SHUTDOWN_GRACE + 5):
                    await self._task
            self._server = None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections of a
    # socket that says it is TCP; without it a reply sent as headers then body waits ~40 ms
    # for the client's delayed ACK on every request of a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock


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
