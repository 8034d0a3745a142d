"""One reader of the durable event log for every open board.

However many boards are open, one task reads the event log (woken by the bus, never polling)
and keeps the recent events in memory; each board's stream waits on that task, not on the
database, and is handed the events after its cursor. What the boards render from an event
(a run's card, a panel's data) is loaded once per batch of events and shared (:meth:`shared`),
so a hundred open pages cost one query per change, not a hundred.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from core.events.bus import Event
from core.events.log import EventLog, fields_of

log = logging.getLogger(__name__)

KEEP = 1000  # events kept in memory; a board further behind than this reloads
READ_BATCH = 200


def event_json(event: Event) -> dict[str, Any]:
    """An event as the page's script sees it: what it says, then where and when (``kind`` is
    the event's name; a request's own kind, question or permission, is ``interaction_kind``)."""
    fields = fields_of(event)
    if "kind" in fields:
        fields["interaction_kind"] = fields.pop("kind")
    return {**fields, "seq": event.seq, "kind": type(event).__name__, "run_id": event.run_id,
            "project": event.project, "at": event.at}


class Feed:
    def __init__(self, events: EventLog, keep: int = KEEP) -> None:
        self.events = events
        self._recent: collections.deque[Event] = collections.deque(maxlen=keep)
        self.floor = 0  # the events after this one are in memory (up to ``last``)
        self.last = 0
        self._changed = asyncio.Event()
        self._started = asyncio.Event()
        self._memo: dict[Hashable, asyncio.Future[Any]] = {}
        self._memo_at = 0

    async def run(self) -> None:
        """Read the log for as long as the page is served (the page's lifespan owns this)."""
        self.floor = self.last = await self.events.last_seq()
        self._started.set()
        while True:
            try:
                page = await self.events.wait(self.last, READ_BATCH, timeout=300)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the status page could not read the event log; trying again")
                await asyncio.sleep(5)
                continue
            if not page.events:
                continue
            for event in page.events:
                if len(self._recent) == self._recent.maxlen:
                    dropped = self._recent.popleft()
                    assert dropped.seq is not None
                    self.floor = dropped.seq
                self._recent.append(event)
            self.last = max(self.last, page.next)
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def since(self, seq: int) -> list[Event] | None:
        """The events after ``seq`` in memory; None when some of them are no longer kept."""
        if seq < self.floor:
            return None
        return [e for e in self._recent if e.seq is not None and e.seq > seq]

    async def wait(self, seq: int) -> list[Event] | None:
        """The events after ``seq``, waiting until there is one (see :meth:`since`)."""
        await self._started.wait()
        while True:
            changed = self._changed
            found = self.since(seq)
            if found is None or found:
                return found
            await changed.wait()

    async def shared(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """``load()``, once for every board that asks for ``key`` after the same events."""
        if self._memo_at != self.last:
            self._memo, self._memo_at = {}, self.last
        future = self._memo.get(key)
        if future is None:
            future = asyncio.ensure_future(load())
            self._memo[key] = future
        return await asyncio.shield(future)
