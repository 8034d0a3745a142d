"""The work queue as people see and steer it: the queued runs in the order they will start,
each with why it waits, and moving or cancelling one of them.

A work-queue item is a queued run (see :mod:`core.runs.requests` for what a request may say):
its start job waits in the job queue, or is held by the executor while the gate says no. Why
it waits is asked of the gate afresh, for each run in turn, as if the ones before it started:
"waiting: project 'api' has 2 live runs, its limit", "waiting: today's budget ... is spent",
"starts Mon 09:00", "paused until 14:00: usage limit"; a run the gate would let through now is
"starting".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field

from core.access.activity import ActivityLog
from core.errors import Conflict
from core.jobs import JobId
from core.models import Run
from core.runs.executor import Executor
from core.runs.gate import Capacity, Gate
from core.runs.requests import check_priority, clock_time
from core.runs.store import RunStore
from core.runs.usage_limit import PAUSED
from core.types import ProjectName, RunId, RunState


class QueueItem(BaseModel):
    """A queued run, as the queue shows it."""

    position: int = Field(description="1 starts next")
    id: RunId
    project: ProjectName
    prompt: str
    model: str
    priority: int = Field(description="-100 to 100; higher starts first")
    not_before: float | None = Field(description="earliest start, unix seconds; null: now")
    why: str = Field(description="why it waits, or 'starting'")
    requested_by: str = Field(description="who queued it (cli, mcp, telegram:42, cron:...)")
    source: str = Field(description="where the request came from: chat, cli, mcp, cron, ...")
    queued_at: float


class WorkQueue:
    def __init__(self, store: RunStore, gate: Gate, executor: Callable[[], Executor],
                 activity: ActivityLog,
                 cancel: Callable[[str, str], Awaitable[Run]]) -> None:
        """``executor``: the run manager's, once it has started; ``cancel``: cancels a run
        (id, actor)."""
        self.store = store
        self.gate = gate
        self.executor = executor
        self.activity = activity
        self._cancel = cancel

    async def items(self, project: str | None = None, limit: int = 50) -> list[QueueItem]:
        """The queued runs in the order they will start (of one project, or all)."""
        now = time.time()
        live = self.executor().live_projects()
        cap = await self.gate.capacity(live)
        items: list[QueueItem] = []
        for run, _, queued_at in await self.store.waiting(10_000):
            why = await self._why(run, cap, now)
            if project is not None and run.project != project:
                continue
            prompt = " ".join(run.prompt.split())
            items.append(QueueItem(
                position=len(items) + 1, id=run.id, project=run.project,
                prompt=prompt if len(prompt) <= 200 else prompt[:199] + "…", model=run.model,
                priority=run.priority, not_before=run.not_before, why=why,
                requested_by=run.created_by, source=run.source, queued_at=queued_at))
            if len(items) >= limit:
                break
        return items

    async def _why(self, run: Run, cap: Capacity, now: float) -> str:
        if run.not_before is not None and run.not_before > now:
            if run.state_reason.startswith(PAUSED):
                return run.state_reason
            return f"starts {clock_time(run.not_before, now)}"
        if self.executor().is_live(run.id):
            return "starting"
        hold = await self.gate.hold(run, cap)
        if hold is None:
            cap.take(run.project)
            return "starting"
        return f"waiting: {hold.reason}"

    async def queued(self, run_id: str) -> Run:
        """The run, if it waits in the queue; else the Conflict that says why not."""
        run = await self.store.resolve(run_id)
        if run.state is not RunState.QUEUED or self.executor().is_live(run.id):
            state = "starting" if run.state is RunState.QUEUED else str(run.state)
            raise Conflict(f"run {run.id!r} is {state}, not waiting in the queue; "
                           "stop it with cancel_run (`gluon cancel`)")
        return run

    async def reprioritize(self, run_id: str, priority: int, actor: str) -> Run:
        """Move a queued run to ``priority``: it goes behind the runs already waiting at that
        priority (the same priority changes nothing)."""
        check_priority(priority)
        run = await self.queued(run_id)
        if run.priority == priority:
            return run
        job = (await self.store.hidden(run.id)).get("start_job")
        if not job:
            raise Conflict(f"run {run.id!r} is being queued; try again in a moment")
        await self.executor().reprioritize(run.id, JobId(job), priority)
        await self.store.update(run.id, priority=priority, queued_at=time.time())
        await self.activity.record(actor, "run.reprioritize", run.id, "ok",
                                   f"{run.priority} -> {priority}")
        return await self.store.get(run.id)

    async def cancel(self, run_id: str, actor: str) -> Run:
        """Take a queued run out of the queue (it ends cancelled, and can still be resumed);
        a run that has started is refused."""
        run = await self.queued(run_id)
        cancelled = await self._cancel(run.id, actor)
        self.executor().wake()  # a start job held for it is let go
        return cancelled
