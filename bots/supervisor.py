"""One owner for every background task of the daemon.

Two kinds of task:

- **core** tasks, which Gluon cannot work without (the HTTP server, housekeeping): when one
  ends, the daemon shuts down and ``gluon serve`` exits with one line naming it (the traceback
  is in the log). Running on without ``/mcp`` would look alive and serve nobody.
- **restarting** tasks, the chat adapters: when one crashes, its traceback is logged and it is
  started again after a delay that doubles up to a limit, and starts over once the task has
  run for a while; ``/mcp`` and the other adapter keep working meanwhile. A task that returns
  has stopped on purpose (a token the platform refuses, reported by the task) and stays off.

Shutdown cancels every task and waits (bounded) for each to clean up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.errors import GluonError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 20.0
"""Seconds the tasks get, together, to clean up when they are cancelled."""


class TaskCrashed(GluonError):
    """A core task of the daemon ended; the message names it and says why, in one line."""


@dataclass(frozen=True)
class Backoff:
    """Delays before a crashed task is started again."""

    first: float = 5.0
    most: float = 300.0
    healthy: float = 600.0  # a task that ran this long before crashing starts over at `first`


def describe(exc: BaseException) -> str:
    detail = " ".join(str(exc).split())
    if len(detail) > 200:
        detail = detail[:197] + "..."
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class Supervisor:
    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self.failure: str | None = None  # why the first core task ended
        self._tasks: list[asyncio.Task[None]] = []
        self._ended = asyncio.Event()

    def core(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()``; if it ever ends, the daemon ends."""
        self._tasks.append(asyncio.create_task(self._core(name, run), name=name))

    def restarting(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()``, again after a delay each time it crashes, until it returns."""
        self._tasks.append(asyncio.create_task(self._restarting(name, run), name=name))

    async def run_until(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set or a core task ends; then every task is stopped. Raises
        :class:`TaskCrashed` when a core task ended."""
        stopping = asyncio.create_task(stop.wait())
        ended = asyncio.create_task(self._ended.wait())
        try:
            await asyncio.wait({stopping, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            ended.cancel()
            await self.close()
        if self.failure is not None:
            raise TaskCrashed(self.failure)

    async def close(self) -> None:
        """Cancel every task and wait for them to clean up (idempotent)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        for task in pending:
            log.error("%s did not stop within %.0f s", task.get_name(), STOP_TIMEOUT)

    def _fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        self._ended.set()

    async def _core(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await run()
        except Exception as exc:
            log.error("%s crashed; Gluon stops", name, exc_info=exc)
            self._fail(f"{name} crashed ({describe(exc)}); Gluon stopped, see the log above "
                       "for the traceback")
        else:
            log.error("%s stopped by itself; Gluon stops", name)
            self._fail(f"{name} stopped by itself; Gluon stopped, see the log above")

    async def _restarting(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        delay = self.backoff.first
        while True:
            began = loop.time()
            try:
                await run()
                return
            except Exception as exc:
                if loop.time() - began >= self.backoff.healthy:
                    delay = self.backoff.first
                log.error("%s crashed (%s); starting it again in %g s, the rest of Gluon "
                          "keeps working", name, describe(exc), delay, exc_info=exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff.most)
