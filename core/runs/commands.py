"""The command channel of a run: how steer, interrupt, cancel and answers reach a live run.

A command travels through the database (DESIGN §3), never through one process's memory, so it
reaches the run wherever its supervisor executes and whichever process sent it: the daemon, a
command's own Gluon, another process writing to the same data dir.

- **Sending** appends a command to the run's channel. A reader in the same process is woken at
  once; one elsewhere sees it at its next poll (``POLL_SECONDS``).
- **Reading**: the run's supervisor watches its channel as part of its inbox, oldest command
  first, including those sent while its Gluon was down (they wait for the run to go on).
- **At least once, applied once**: a command can be delivered again (a restart, or two readers
  of one run); the reader applies it only when :meth:`CommandChannel.complete` says it is the
  first to, which marks it done in the same step.

Payloads are stored in plain text: a steer's text as the person wrote it (it is shown in the
run's log anyway) and an answer's interaction id; the answer itself stays in its interaction,
and no credential is ever put in a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from core.events.bus import EventBus, RunStateChanged
from core.runs.command_store import CommandStore
from core.runs.store import RunStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
"""How often a reader looks for commands sent by another process."""


class CommandKind(StrEnum):
    STEER = "steer"  # payload: text
    INTERRUPT = "interrupt"
    CANCEL = "cancel"
    ANSWER = "answer"  # payload: interaction_id (the answer is in the interaction)


@dataclass(frozen=True)
class RunCommand:
    id: int
    run_id: str
    kind: CommandKind
    actor: str
    created_at: float
    payload: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.payload.get("text", "")

    @property
    def interaction_id(self) -> str:
        return self.payload.get("interaction_id", "")


class CommandChannel(Protocol):
    """The per-run command channel (SQLite today; a Redis stream per run in a cluster)."""

    async def send(self, run_id: str, kind: CommandKind, actor: str,
                   **payload: str) -> RunCommand:
        """Append a command to the run's channel (inside the caller's database transaction,
        when there is one)."""
        ...

    def watch(self, run_id: str) -> AsyncGenerator[RunCommand, None]:
        """The run's commands not yet applied, oldest first, then each new one as it comes."""
        ...

    async def pending(self, run_id: str) -> list[RunCommand]:
        """The run's commands not yet applied, oldest first, without waiting."""
        ...

    async def complete(self, command: RunCommand) -> bool:
        """Mark the command applied; True only for the first caller, who then applies it."""
        ...

    async def discard(self, run_id: str) -> int:
        """The run ended for good: its commands still open will never apply; how many."""
        ...

    async def close(self) -> None:
        """Stop watching (idempotent). Nothing sent is lost."""
        ...


def _command(row: dict[str, Any]) -> RunCommand:
    return RunCommand(id=int(row["id"]), run_id=str(row["run_id"]),
                      kind=CommandKind(row["kind"]), actor=str(row["actor"]),
                      created_at=float(row["created_at"]),
                      payload={str(k): str(v) for k, v in dict(row["payload"]).items()})


class SqliteCommandChannel:
    """Commands in the ``run_commands`` table of ``gluon.db``.

    Readers in this process wait on an event per run; one poller per channel (only while
    someone watches) looks for commands other processes sent and wakes their runs' readers.
    """

    def __init__(self, store: CommandStore, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._wakeups: dict[str, set[asyncio.Event]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    async def send(self, run_id: str, kind: CommandKind, actor: str,
                   **payload: str) -> RunCommand:
        command = _command(await self.store.insert(run_id, str(kind), dict(payload), actor))
        self._wake(run_id)
        return command

    async def watch(self, run_id: str) -> AsyncGenerator[RunCommand, None]:
        wakeup = asyncio.Event()
        self._wakeups.setdefault(run_id, set()).add(wakeup)
        self._start_poller()
        after = 0
        try:
            while True:
                wakeup.clear()  # before reading: a command sent meanwhile wakes us again
                for row in await self.store.open_for(run_id, after):
                    after = int(row["id"])
                    yield _command(row)
                await wakeup.wait()
        finally:
            waiting = self._wakeups.get(run_id, set())
            waiting.discard(wakeup)
            if not waiting:
                self._wakeups.pop(run_id, None)

    async def pending(self, run_id: str) -> list[RunCommand]:
        return [_command(row) for row in await self.store.open_for(run_id)]

    async def complete(self, command: RunCommand) -> bool:
        return await self.store.complete(command.id)

    async def discard(self, run_id: str) -> int:
        return await self.store.complete_open(run_id)

    async def close(self) -> None:
        self._closed = True
        if self._poller is not None:
            poller, self._poller = self._poller, None
            poller.cancel()
            with contextlib.suppress(BaseException):
                await poller

    def _wake(self, run_id: str) -> None:
        for wakeup in self._wakeups.get(run_id, ()):
            wakeup.set()

    def _start_poller(self) -> None:
        if self._poller is None and not self._closed:
            self._poller = asyncio.create_task(self._poll(), name="run-commands-poll")

    async def _poll(self) -> None:
        """Wake the readers of runs that another process sent commands to."""
        try:
            last: int | None = None
            while self._wakeups:
                try:
                    if last is None:
                        last = await self.store.last_id()
                        runs = set(self._wakeups)  # what was sent before `last` is read now
                    else:
                        last, runs = await self.store.runs_sent_to(last)
                except Exception:
                    log.exception("looking for commands sent to runs failed; trying again")
                    runs = set()
                for run_id in runs:
                    self._wake(run_id)
                await asyncio.sleep(self.poll_seconds)
        finally:
            if self._poller is asyncio.current_task():
                self._poller = None


async def until_ended(bus: EventBus, store: RunStore, run_id: str,
                      timeout: float) -> None:  # noqa: ASYNC109
    """Wait until the run has ended: told by the bus when it runs in this process, seen in the
    store (a short poll) when it runs elsewhere."""
    with bus.subscribe(lambda e: e.run_id == run_id and isinstance(e, RunStateChanged)
                       and not e.new.is_live) as sub:
        async with asyncio.timeout(timeout):
            while (await store.get(run_id)).state.is_live:
                with contextlib.suppress(TimeoutError):
                    await sub.get(timeout=POLL_SECONDS)
