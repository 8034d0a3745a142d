"""The event bus: typed events that chat adapters, the status page and waiters subscribe to.

Durable events (state transitions, questions and their answers; see :mod:`core.events.log`)
are written to the event log first and published here after their transaction commits, with
their ``seq``; ephemeral ones (agent text, tool calls) exist only here.

Publishing never blocks and never fails: each subscriber has a bounded queue, and a subscriber
that falls behind loses its oldest events (and is told how many through ``dropped``) instead of
slowing a run down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from core.types import RunState

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Event:
    run_id: str
    project: str
    at: float = field(default_factory=time.time)
    # The event's place in the durable log (core.events.log), None for an ephemeral event.
    seq: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunStateChanged(Event):
    old: RunState | None
    new: RunState
    reason: str


@dataclass(frozen=True, kw_only=True)
class AgentText(Event):
    text: str


@dataclass(frozen=True, kw_only=True)
class ToolCalled(Event):
    tool: str
    summary: str


@dataclass(frozen=True, kw_only=True)
class ApiRetry(Event):
    """The agent could not reach the model API (or it answered an error) and will try again."""

    attempt: int
    max_retries: int
    delay_seconds: float
    status: int | None  # the HTTP status; None when the API could not be reached at all
    summary: str  # e.g. "model API unreachable (127.0.0.1:1), retry 3/10 in 20 s"


@dataclass(frozen=True, kw_only=True)
class InteractionRequested(Event):
    interaction_id: str
    kind: str
    title: str
    options: list[str]
    reminder: bool = False


@dataclass(frozen=True, kw_only=True)
class InteractionAnswered(Event):
    interaction_id: str
    answer: Any
    answered_by: str


@dataclass(frozen=True, kw_only=True)
class RunComment(Event):
    """Someone wrote to a run from outside chat (a GitHub comment that steers or resumes it),
    so the chats that follow the run show it too."""

    source: str  # "github"
    author: str  # as the source names them (a GitHub login)
    text: str
    url: str = ""


@dataclass(frozen=True, kw_only=True)
class RunNote(Event):
    """Something a feature built on runs did to a run, said to the people who follow it: a
    formula's step, a quality gate's outcome, the autonomous loop's breaker, a supervision
    policy's resume."""

    source: str  # "formula", "gates", "loop", "policy", ...
    text: str  # one or two lines, shown as they are


@dataclass(frozen=True, kw_only=True)
class MergeStep(Event):
    """A merge-queue entry of the run moved to ``state`` (see :mod:`core.merges.states`)."""

    entry_id: str
    state: str
    reason: str
    base: str  # the base branch it merges into
    files: list[str] = field(default_factory=list)  # conflicting files, when there are


@dataclass(frozen=True, kw_only=True)
class FilesOverlap(Event):
    """The run changes files that another live run on the same base changes too: merging the
    second of them will likely conflict (the merge queue's forecast)."""

    other_run_id: str
    base: str
    files: list[str]


@dataclass(frozen=True, kw_only=True)
class AgentImage(Event):
    """The agent saved an image in its worktree (a new or changed png, jpg, gif or webp),
    said once per version: ``digest`` is its content's sha256. ``shown`` is false for the
    images past what one turn posts (a note says how many more there are)."""

    path: str  # in the worktree
    digest: str
    size: int
    shown: bool = True


@dataclass(frozen=True, kw_only=True)
class TurnFinished(Event):
    subtype: str
    is_error: bool
    cost_usd: float
    turns: int


@dataclass(frozen=True, kw_only=True)
class SubagentsChanged(Event):
    """A subagent of the run's agent started or stopped; the counts are the run's so far."""

    agent_type: str
    started: int
    done: int
    live: int  # of this agent session's subagents, still running


@dataclass(frozen=True, kw_only=True)
class BudgetWarning(Event):
    scope: str  # "run", "project" or "global"
    spent_usd: float
    limit_usd: float


class Subscription:
    """One subscriber's view of the bus; iterate it, or ``await next_matching(...)``."""

    def __init__(self, bus: EventBus, maxsize: int,
                 predicate: Callable[[Event], bool] | None) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._predicate = predicate
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        if self._predicate is not None and not self._predicate(event):
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> Event:  # noqa: ASYNC109
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives just
        # as an event does, and the cancelled subscriber would go on waiting.
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    async def next_matching(self, predicate: Callable[[Event], bool],
                            timeout: float | None = None) -> Event:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                event = await self._queue.get()
                if predicate(event):
                    return event

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, predicate: Callable[[Event], bool] | None = None,
                  maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize, predicate)
        self._subscribers.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        for sub in list(self._subscribers):
            try:
                sub._offer(event)
            except Exception:  # a broken predicate must not stop the run that published
                log.exception("event subscriber failed on %s", type(event).__name__)
