"""Serving a fake's ASGI app with uvicorn on 127.0.0.1 (a free port), in a thread with its own
event loop, so sync code, async tests and subprocesses can all reach it over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn


class ThreadedServer:
    """The app's lifespan must call ``ready()`` once it runs; ``start`` waits for that."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        assert self._sock is not None, "server not started"
        port: int = self._sock.getsockname()[1]
        return port

    def ready(self) -> None:
        self._ready.set()

    def start(self) -> None:
        """Start serving; returns once the port listens and the app's lifespan has run."""
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted sockets: without it every response waits ~40 ms for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self._sock = sock
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{self.port}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=15):
            raise RuntimeError(f"{self.name} did not start")

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        finally:
            self._ready.set()  # unblock start() if serving failed before the lifespan ran

    def stop(self) -> None:
        if self._thread is None or self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()


async def wait_until(cond: threading.Condition, listeners: list[Callable[[], None]],
                     check: Callable[[], bool], describe: Callable[[], str],
                     timeout: float) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` holds, re-checking it each time a fake calls its listeners
    (after every change); else raise AssertionError with ``describe()``. A LookupError in
    ``check`` means "not yet". ``listeners`` is guarded by ``cond``."""
    loop, changed = asyncio.get_running_loop(), asyncio.Event()

    def notify() -> None:
        with contextlib.suppress(RuntimeError):  # the waiting loop has closed
            loop.call_soon_threadsafe(changed.set)

    with cond:
        listeners.append(notify)
    error: LookupError | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()
                try:
                    if check():
                        return
                except LookupError as exc:
                    error = exc
                await changed.wait()
    except TimeoutError:
        why = f" (last: {error!r})" if error else ""
        raise AssertionError(f"not true after {timeout}s{why}; {describe()}") from None
    finally:
        with cond:
            listeners.remove(notify)
