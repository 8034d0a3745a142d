"""The conflict forecast: which runs on the same project and base branch change the same files,
said while they work, so people can sequence them before merging the second one collides.

A run counts while it is live (queued, running, waiting) or in review: a run in review that is
not merged yet still collides. What a run changes comes from :class:`ChangedFiles` (the
branch's diff against its base plus the worktree's uncommitted paths); no checkout, no merge.

:meth:`Forecast.overlaps` is the forecast of one run, now (``get_run`` shows it).
:meth:`Forecast.run` is the daemon's loop: woken by the runs' edits, turns and state changes
(a burst of them makes one pass) and every :data:`EVERY` seconds, it appends a durable
:class:`~core.events.bus.FilesOverlap` event to a run for each other run it newly overlaps
with, naming only the files not reported before for that pair; both runs of a pair get one,
each naming the other. What was reported is read back from the event log when the loop
starts, so a restart repeats nothing (an event pruned from the log, 30 days on, could be said
again: the pair is then a month old and the news is still true).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from core.events.bus import (
    Event,
    FilesOverlap,
    RunStateChanged,
    Subscription,
    ToolCalled,
    TurnFinished,
)
from core.events.log import EventLog
from core.merges.changes import ChangedFiles
from core.models import Run
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

# The runs that can still collide when merged.
COUNTED = (RunState.QUEUED, RunState.RUNNING, RunState.WAITING, RunState.REVIEW)
# The agent's tool calls that may change files.
EDITS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit", "Bash"})
EVERY = 30.0  # seconds between passes when nothing wakes the loop
QUIET = 2.0  # a burst of edits ends when this long passes without another
BURST = 10.0  # the longest a burst delays a pass
MAX_FILES = 100  # files named in one event (the rest count as reported with them)
MAX_RUNS = 10_000


class Overlap(BaseModel):
    """Another run that changes some of the same files."""

    model_config = ConfigDict(frozen=True)

    other_run_id: str
    other_state: RunState
    files: list[str] = Field(description="the files both runs change, sorted")


def _wakes(event: Event) -> bool:
    return isinstance(event, TurnFinished | RunStateChanged) or (
        isinstance(event, ToolCalled) and event.tool in EDITS)


def _lines(runs: Sequence[Run]) -> dict[tuple[str, str], list[Run]]:
    """The runs that can collide with one another: by project and base branch."""
    lines: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        if run.branch and run.base_branch:
            lines.setdefault((run.project, run.base_branch), []).append(run)
    return lines


class Forecast:
    def __init__(self, runs: RunManager, events: EventLog) -> None:
        self.runs = runs
        self.events = events
        self.changes = ChangedFiles(runs.projects)
        self._lock = asyncio.Lock()  # one look at the repositories at a time
        self._pass = asyncio.Lock()  # one pass at a time: each news is reported once
        # (run, other run) -> the files already reported to the run about the other.
        self._reported: dict[tuple[str, str], set[str]] | None = None

    async def overlaps(self, run_id: str) -> list[Overlap]:
        """The other runs that change files this run changes, now (none for a run that was
        merged, closed or ended otherwise, or that works in the project's checkout)."""
        run = await self.runs.get(run_id)
        if run.state not in COUNTED or not run.branch or not run.base_branch:
            return []
        line = [r for r in await self.runs.store.find(project=run.project, states=list(COUNTED),
                                                      limit=MAX_RUNS)
                if r.base_branch == run.base_branch and r.id != run.id]
        async with self._lock:
            changed = await self.changes.of([run, *line])
        mine = changed.get(run.id, frozenset())
        found = []
        for other in sorted(line, key=lambda r: r.created_at):
            both = mine & changed.get(other.id, frozenset())
            if both:
                found.append(Overlap(other_run_id=other.id, other_state=other.state,
                                     files=sorted(both)))
        return found

    async def check(self) -> list[FilesOverlap]:
        """One pass over every counted run: report each run's new overlaps (see the module's
        docstring). Returns the events appended."""
        async with self._pass:
            return await self._check()

    async def _check(self) -> list[FilesOverlap]:
        reported = await self._load_reported()
        runs = await self.runs.store.find(states=list(COUNTED), limit=MAX_RUNS)
        async with self._lock:
            changed = await self.changes.of(runs)
            self.changes.forget(r.id for r in runs)
        news: list[tuple[FilesOverlap, set[str]]] = []
        for (_, base), line in _lines(runs).items():
            for run in line:
                for other in line:
                    if other.id == run.id:
                        continue
                    both = changed.get(run.id, frozenset()) & changed.get(other.id, frozenset())
                    fresh = both - reported.get((run.id, other.id), set())
                    if fresh:
                        news.append((FilesOverlap(
                            run_id=run.id, project=run.project, other_run_id=other.id,
                            base=base, files=sorted(fresh)[:MAX_FILES]), set(fresh)))
        if not news:
            return []
        logged = []
        async with self.runs.store.transaction():
            for event, _ in news:
                logged.append(await self.events.append(event))
                self.events.publish(logged[-1])
        for event, files in news:
            reported.setdefault((event.run_id, event.other_run_id), set()).update(files)
        return logged

    async def run(self) -> None:
        """The daemon's loop (see the module's docstring); it runs until cancelled."""
        with self.runs.bus.subscribe(_wakes) as sub:
            while True:
                try:
                    await self.check()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("the forecast of overlapping runs failed; trying again later")
                await self._woken(sub)

    async def _woken(self, sub: Subscription) -> None:
        """Wait for a reason to look again: an edit, a turn or a state change (then for the
        burst it belongs to to end), or :data:`EVERY` seconds."""
        with contextlib.suppress(TimeoutError):
            self._note(await sub.get(timeout=EVERY))
            until = time.monotonic() + BURST
            while (left := until - time.monotonic()) > 0:
                self._note(await sub.get(timeout=min(QUIET, left)))

    def _note(self, event: Event) -> None:
        """A merged or closed run collides with nothing any more: forget what it was told."""
        if (isinstance(event, RunStateChanged) and event.new.is_final
                and self._reported is not None):
            for pair in [p for p in self._reported if event.run_id in p]:
                del self._reported[pair]

    async def _load_reported(self) -> dict[tuple[str, str], set[str]]:
        """What was reported before, read from the event log the first time."""
        if self._reported is None:
            reported: dict[tuple[str, str], set[str]] = {}
            seq, page_size = 0, 500
            while True:
                page = await self.events.after(seq, page_size, kinds=[FilesOverlap])
                for event in page.events:
                    assert isinstance(event, FilesOverlap)
                    reported.setdefault((event.run_id, event.other_run_id), set()).update(
                        event.files)
                if len(page.events) < page_size:
                    break
                seq = page.next
            if self._reported is None:  # not loaded meanwhile by a concurrent pass
                self._reported = reported
        return self._reported
