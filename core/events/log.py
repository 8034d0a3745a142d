"""The durable event log: state changes and people-in-the-loop events, in ``seq`` order.

An event is appended in the same transaction as the change it records (a run's transition, a
question asked or answered), so a crash keeps both or neither, and published on the bus after
that transaction commits, carrying its ``seq``. Anyone reads the log from a cursor
(:meth:`EventLog.after`, :meth:`EventLog.wait`); a named :class:`Consumer` keeps its cursor in
the database and moves it only after it has handled an event, so it sees every event at least
once, in order, across restarts.

Retention: :meth:`EventLog.prune` (run by the daemon's housekeeping) deletes events older than
``KEEP_DAYS`` that every consumer has handled. A consumer whose cursor has not moved for
``FORGET_CONSUMER_DAYS`` (a bot that was removed from the config) stops holding events back.

Agent text and tool calls are never logged: they stay on the lossy bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import TypeAdapter

from core.events.bus import (
    AgentImage,
    Event,
    EventBus,
    FilesOverlap,
    InteractionAnswered,
    InteractionRequested,
    MergeStep,
    RunComment,
    RunNote,
    RunStateChanged,
)
from core.events.store import EventStore, StoredEvent

log = logging.getLogger(__name__)

# The kinds of event the log keeps, by name: adding a kind is adding its class here.
DURABLE: dict[str, type[Event]] = {cls.__name__: cls for cls in (
    RunStateChanged,
    InteractionRequested,
    InteractionAnswered,
    RunComment,
    RunNote,
    MergeStep,
    FilesOverlap,
    AgentImage,
)}
KEEP_DAYS = 30.0
FORGET_CONSUMER_DAYS = 90.0
DAY = 86400.0
MAX_ATTEMPTS = 3  # a consumer's handler failing this often on one event skips it

E = TypeVar("E", bound=Event)
_ADAPTERS: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(cls) for name, cls in
                                          DURABLE.items()}


def kind_of(event: Event) -> str:
    kind = type(event).__name__
    assert kind in DURABLE, f"{kind} is not a durable event; add it to DURABLE"
    return kind


def decode(stored: StoredEvent) -> Event:
    """An event as it was appended, with its seq."""
    return build(stored.kind, stored.run_id, stored.project, stored.at,
                 json.loads(stored.data), stored.seq)


def build(kind: str, run_id: str, project: str, at: float, fields: dict[str, Any],
          seq: int | None = None) -> Event:
    """A durable event of ``kind`` from its own fields (as :func:`fields_of` gives them);
    ValueError for a kind or fields that are not one."""
    if kind not in DURABLE:
        raise ValueError(f"{kind!r} is not a durable event")
    event: Event = _ADAPTERS[kind].validate_python(
        {**fields, "run_id": run_id, "project": project, "at": at, "seq": seq})
    return event


def fields_of(event: Event) -> dict[str, Any]:
    """What an event says beyond where and when: its own fields, as JSON values."""
    data: dict[str, Any] = _ADAPTERS[kind_of(event)].dump_python(event, mode="json")
    for key in ("run_id", "project", "at", "seq"):
        data.pop(key, None)
    return data


def describe(event: Event) -> str:
    """One line on what happened, for a terminal or a chat."""
    if isinstance(event, RunStateChanged):
        was = f"{event.old} -> " if event.old else ""
        return f"run {event.run_id} {was}{event.new}: {event.reason}"
    if isinstance(event, InteractionRequested):
        return f"run {event.run_id} asks ({event.kind} {event.interaction_id}): {event.title}"
    if isinstance(event, InteractionAnswered):
        return (f"run {event.run_id}: {event.interaction_id} answered by "
                f"{event.answered_by}: {event.answer}")
    if isinstance(event, RunComment):
        return f"run {event.run_id}: {event.author} on {event.source}: {event.text[:200]}"
    if isinstance(event, RunNote):
        return f"run {event.run_id} ({event.source}): {event.text[:300]}"
    if isinstance(event, MergeStep):
        return (f"run {event.run_id}: merge into {event.base} (entry {event.entry_id}) "
                f"{event.state}: {event.reason}")
    if isinstance(event, FilesOverlap):
        return (f"run {event.run_id} also changes {', '.join(event.files[:5])} with run "
                f"{event.other_run_id} (on {event.base})")
    if isinstance(event, AgentImage):
        return f"run {event.run_id} saved the image {event.path} ({event.size} bytes)"
    return f"run {event.run_id}: {type(event).__name__}"


@dataclass(frozen=True)
class Page:
    """Events after a cursor, oldest first, and the cursor to read on from (``next`` may be
    past the last event returned, when a filter skipped newer ones)."""

    events: list[Event]
    next: int


class EventLog:
    def __init__(self, store: EventStore, bus: EventBus | None = None) -> None:
        self.store = store
        self.bus = bus

    async def append(self, event: E) -> E:
        """Record ``event`` inside the caller's open transaction; returns it with its seq.
        Publish it (:meth:`publish`) once that transaction has committed."""
        seq = await self.store.append(kind_of(event), event.run_id, event.project,
                                      json.dumps(fields_of(event)), event.at)
        return replace(event, seq=seq)

    def publish(self, event: Event) -> None:
        """Publish a logged event on the bus once its transaction has committed (an outer
        transaction's, when it was appended inside one)."""
        bus = self.bus
        if bus is not None:
            self.store.db.after_commit(lambda: bus.publish(event))

    async def last_seq(self) -> int:
        return await self.store.last_seq()

    async def after(self, seq: int, limit: int = 100, *,
                    kinds: Sequence[type[Event]] | None = None,
                    run_id: str | None = None) -> Page:
        """At most ``limit`` events after ``seq``, oldest first, optionally only these kinds
        or this run's."""
        # The newest seq is read first: an event committed meanwhile is left for the next
        # page rather than skipped by a `next` that jumps over it.
        upto = await self.store.last_seq()
        names = None if kinds is None else [kind_of_class(k) for k in kinds]
        rows = await self.store.after(seq, limit, upto, names, run_id)
        events = [decode(r) for r in rows]
        full = len(rows) == limit
        return Page(events, rows[-1].seq if full else max(seq, upto))

    async def latest(self, limit: int = 100, *, kinds: Sequence[type[Event]] | None = None,
                     run_id: str | None = None) -> Page:
        """The last ``limit`` events (oldest first), and the cursor to read on from."""
        upto = await self.store.last_seq()
        names = None if kinds is None else [kind_of_class(k) for k in kinds]
        rows = await self.store.after(0, limit, upto, names, run_id, newest=True)
        return Page([decode(r) for r in rows], upto)

    async def wait(self, seq: int, limit: int = 100, *,
                   kinds: Sequence[type[Event]] | None = None, run_id: str | None = None,
                   timeout: float) -> Page:  # noqa: ASYNC109
        """Like :meth:`after`, but when nothing is there yet, wait up to ``timeout`` seconds
        for an event to be appended (woken by the bus, no polling)."""
        if self.bus is None:
            return await self.after(seq, limit, kinds=kinds, run_id=run_id)
        deadline = time.monotonic() + timeout
        with self.bus.subscribe(lambda e: e.seq is not None, maxsize=1) as sub:
            while True:
                page = await self.after(seq, limit, kinds=kinds, run_id=run_id)
                left = deadline - time.monotonic()
                if page.events or left <= 0:
                    return page
                seq = page.next
                with contextlib.suppress(TimeoutError):
                    await sub.get(timeout=left)

    def consumer(self, name: str, kinds: Sequence[type[Event]] | None = None) -> Consumer:
        return Consumer(self, name, kinds)

    async def prune(self, keep_days: float = KEEP_DAYS, now: float | None = None) -> int:
        """Delete events older than ``keep_days`` that every consumer has handled."""
        now = time.time() if now is None else now
        return await self.store.prune(now - keep_days * DAY,
                                      now - FORGET_CONSUMER_DAYS * DAY)


def kind_of_class(cls: type[Event]) -> str:
    assert cls.__name__ in DURABLE, f"{cls.__name__} is not a durable event"
    return cls.__name__


Handler = Callable[[Event], Awaitable[None]]


class Consumer:
    """A named reader of the log whose cursor is kept in the database.

    A consumer seen for the first time starts at the end of the log: what happened before it
    existed is not something it missed."""

    def __init__(self, events: EventLog, name: str,
                 kinds: Sequence[type[Event]] | None) -> None:
        self.events = events
        self.name = name
        self.kinds = kinds
        self._failures: dict[int, int] = {}
        self.stuck = False  # the last drain stopped at an event its handler failed on

    async def position(self) -> int:
        """The seq of the last event this consumer has handled."""
        seq = await self.events.store.cursor(self.name)
        if seq is None:
            seq = await self.events.last_seq()
            await self.events.store.set_cursor(self.name, seq)
        return seq

    async def drain(self, handle: Handler, limit: int = 100) -> int:
        """Hand every event after the cursor to ``handle``, in order, moving the cursor past
        each once it was handled. A handler that raises leaves the cursor on that event, to
        be tried again on the next drain (``MAX_ATTEMPTS`` times in all, then it is skipped
        with a log line). Returns the number of events handled."""
        handled = 0
        self.stuck = False
        seq = await self.position()
        while True:
            page = await self.events.after(seq, limit, kinds=self.kinds)
            for event in page.events:
                assert event.seq is not None
                if not await self._handle(handle, event):
                    self.stuck = True
                    return handled
                handled += 1
                seq = event.seq
                await self.events.store.set_cursor(self.name, seq)
            if page.next > seq:  # filtered-out events: nothing to handle, but read past them
                seq = page.next
                await self.events.store.set_cursor(self.name, seq)
            if len(page.events) < limit:
                return handled

    async def _handle(self, handle: Handler, event: Event) -> bool:
        assert event.seq is not None
        try:
            await handle(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            attempts = self._failures[event.seq] = self._failures.get(event.seq, 0) + 1
            if attempts < MAX_ATTEMPTS:
                log.exception("%s could not handle event %d (attempt %d); trying again later",
                              self.name, event.seq, attempts)
                return False
            log.exception("%s skips event %d after %d failed attempts", self.name, event.seq,
                          attempts)
        self._failures.pop(event.seq, None)
        return True

    async def run(self, handle: Handler, idle_check: float = 60.0) -> None:
        """Drain forever: after each drain, wait for the next event (an event that failed is
        tried again with the next one, or after ``idle_check`` seconds)."""
        while True:
            await self.drain(handle)
            seq = await (self.events.last_seq() if self.stuck else self.position())
            await self.events.wait(seq, 1, timeout=idle_check)
