"""The bridge back to GitHub: each linked run's progress and result as ONE comment on its issue
or pull request, edited in place as the run moves.

Driven by the durable event log through the named consumer ``github`` (state changes,
questions and answers): at least once, in order, across restarts, so a run that finished while
Gluon was stopped is reported when it is back. Every edit writes the comment as the run is
*now* and is skipped when the text is unchanged, so seeing an event twice changes nothing; the
comment carries a hidden marker, so one posted just before a crash is found and edited instead
of posted again. Between state changes, the agent's turns refresh the comment at most every
:data:`PROGRESS_EVERY` seconds (from the lossy bus).

A run started from a pull request of the same repository finishes by pushing its branch onto
the pull request's branch (``github.push_pull_requests``), so the pull request gets its
commits and its checks run on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from core.config import Config
from core.errors import UserError
from core.events.bus import (
    Event,
    EventBus,
    InteractionAnswered,
    InteractionRequested,
    RunStateChanged,
    ToolCalled,
    TurnFinished,
)
from core.events.log import EventLog
from core.git import ops as gitops
from core.git.remote import push
from core.github.client import GitHubClient
from core.github.comment import marker, status_comment
from core.github.store import GitHubLink, GitHubStore
from core.projects.service import ProjectService
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

CONSUMER = "github"
PROGRESS_EVERY = 15.0  # seconds between progress edits of one run's comment


class Bridge:
    def __init__(self, config: Config, store: GitHubStore, client: GitHubClient,
                 runs: RunManager, projects: ProjectService, events: EventLog,
                 bus: EventBus) -> None:
        self.config = config
        self.bus = bus
        self.store = store
        self.client = client
        self.runs = runs
        self.projects = projects
        self.events = events
        self._locks: dict[str, asyncio.Lock] = {}
        self._linked: set[str] = set()  # runs with a comment, for progress from the bus
        self._edited: dict[str, float] = {}
        self._notes: dict[str, str] = {}  # run -> a push that failed, shown in its comment

    async def refresh(self, run_id: str) -> None:
        """Make the run's comment say how the run is now (post it if it has none yet)."""
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        async with lock:
            link = await self.store.get(run_id)
            if link is None or link.repo is None or link.number is None:
                return
            where, number = link.repo, link.number
            run = await self.runs.get(run_id)
            if run.state is RunState.REVIEW and link.push_to and \
                    self.config.github.push_pull_requests:
                link = await self._push(link)
            pending = await self.runs.interactions.pending(run.id)
            text = status_comment(run, link, pending, self.config.github.trigger)
            note = self._notes.get(run_id)
            if note:
                text += f"\n⚠️ {note}\n"
            self._edited[run_id] = time.monotonic()
            if link.comment_id is None:
                found = await self._find(link)
                if found is None:
                    comment_id = await self.client.comment(where, number, text)
                else:
                    comment_id = found
                    await self.client.edit_comment(where, comment_id, text)
                await self.store.update(run_id, comment_id=comment_id, comment_text=text)
            elif text != await self.store.comment_text(run_id):
                await self.client.edit_comment(where, link.comment_id, text)
                await self.store.update(run_id, comment_text=text)
            if run.state.is_live:
                self._linked.add(run_id)
            else:
                self._linked.discard(run_id)
                self._locks.pop(run_id, None)

    async def _find(self, link: GitHubLink) -> int | None:
        """The run's comment, if it was posted before its id could be recorded."""
        assert link.repo is not None and link.number is not None
        wanted = marker(link.run_id)
        for comment in await self.client.comments(link.repo, link.number):
            if wanted in str(comment.get("body") or ""):
                return int(comment["id"])
        return None

    async def _push(self, link: GitHubLink) -> GitHubLink:
        """Push a finished run's branch onto its pull request's branch, once per commit."""
        run = await self.runs.get(link.run_id)
        if not run.branch or not run.commits or link.push_to is None:
            return link
        repo = Path((await self.projects.get(run.project)).path)
        head = await gitops.head_sha(repo, run.branch)
        if head == link.pushed_sha:
            return link
        try:
            pushed = await push(repo, run.branch, to=link.push_to)
        except UserError as exc:
            log.warning("run %s: %s", run.id, exc)
            self._notes[run.id] = str(exc)
            return link
        self._notes.pop(run.id, None)
        await self.store.update(run.id, pushed_sha=pushed.head)
        log.info("run %s: pushed %s to %s", run.id, pushed.head[:7], link.push_to)
        found = await self.store.get(run.id)
        assert found is not None
        return found

    # -- the bridge's tasks ----------------------------------------------------------------

    async def run(self) -> None:
        """Follow the event log (and the bus, for progress) until cancelled."""
        consumer = self.events.consumer(CONSUMER, kinds=[
            RunStateChanged, InteractionRequested, InteractionAnswered])
        await consumer.position()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(consumer.run(self._on_logged), name="github-bridge")
            tasks.create_task(self._progress(), name="github-progress")

    async def _on_logged(self, event: Event) -> None:
        if await self.store.get(event.run_id) is not None:
            await self.refresh(event.run_id)  # a GitHubError is tried again by the consumer

    async def _progress(self) -> None:
        with self.bus.subscribe(
                lambda e: isinstance(e, TurnFinished | ToolCalled)
                and e.run_id in self._linked) as sub:
            while True:
                event = await sub.get()
                if time.monotonic() - self._edited.get(event.run_id, 0.0) < PROGRESS_EVERY:
                    continue
                try:
                    await self.refresh(event.run_id)
                except UserError as exc:
                    log.warning("run %s: could not update its GitHub comment: %s",
                                event.run_id, exc)
                except Exception:
                    log.exception("run %s: could not update its GitHub comment", event.run_id)
