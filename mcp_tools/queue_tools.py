"""Tools for the work queue: queue runs with a priority and a start time, see what waits and
why, move or cancel a queued run."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.models import Run
from core.runs.requests import parse_start
from core.runs.work_queue import QueueItem
from core.runtime import Runtime
from mcp_tools.params import Limit, ProjectRef, RunRef
from mcp_tools.registry import ToolKit, actor, caller

Priority = Annotated[int, Field(ge=-100, le=100, description=(
    "-100 to 100; higher starts first, 0 is normal; within a priority, first come first "
    "served"))]


class QueueList(BaseModel):
    items: list[QueueItem] = Field(description="queued runs, the next to start first")


def source() -> str:
    """Where the call comes from: chat (a conversation), cli, or mcp (any other client)."""
    who = caller()
    if who.where:
        return "chat"
    return "cli" if who.actor == "cli" else "mcp"


def register(kit: ToolKit, rt: Runtime) -> None:
    runs, work = rt.runs, rt.work

    @kit.tool()
    async def queue_work(
            project: ProjectRef,
            prompt: Annotated[str, Field(description="the task, in plain words")],
            priority: Priority = 0,
            start_at: Annotated[str | None, Field(description=(
                "earliest start: HH:MM (the next one), 'mon 09:00', 2030-01-07T09:00 (the "
                "Gluon host's time zone unless it names one), +30m or +2h; default now"))
            ] = None,
            model: Annotated[str | None, Field(
                description="opus, sonnet, haiku or a full model id; default from config")
            ] = None,
            base: Annotated[str | None, Field(
                description="branch to start from; default: the project's current branch "
                "(when the run starts)")] = None,
            budget_usd: Annotated[float | None, Field(
                gt=0, description="spend limit of this run in USD")] = None,
            key: Annotated[str | None, Field(description=(
                "names this request: queueing the same key again returns the run the first "
                "call made and adds nothing"))] = None) -> Run:
        """Queue a run on a project: it starts when the concurrency limits and budgets let
        it, highest priority first, and not before `start_at`. Call it once per task to queue
        several ("queue these three: ..."). A run queued for later starts from its base branch
        as it is then. Returns the run."""
        # `gluon queue add` without a daemon ends at once: its runs wait for `gluon serve`.
        return await runs.start_run(
            project, prompt, model=model, base=base, budget_usd=budget_usd, actor=actor(),
            priority=priority, not_before=parse_start(start_at) if start_at else None,
            key=key, source=source(), adopt=source() != "cli")

    @kit.tool(read_only=True)
    async def list_queue(
            project: Annotated[str | None, Field(description="only this project's runs")
                               ] = None,
            limit: Limit = 50) -> QueueList:
        """The queued runs in the order they will start, each with its priority, earliest
        start, who queued it and from where, and why it waits ("waiting: project 'api' has 2
        live runs, its limit", "waiting: today's budget ... is spent", "starts Mon 09:00",
        "paused until 14:00: usage limit"), or "starting"."""
        if project is not None:
            await rt.projects.named(project)
        return QueueList(items=await work.items(project, limit))

    async def cancel_preview(run: str) -> str:
        found = await work.queued(run)
        return f"take {found.describe()}, queued by {found.created_by}, out of the queue"

    @kit.tool(destructive=True, preview=cancel_preview)
    async def cancel_queued(run: RunRef) -> Run:
        """Take a queued run out of the queue before it starts (it ends cancelled and can
        still be resumed). A run that has started is refused: stop it with cancel_run."""
        return await work.cancel(run, actor())

    @kit.tool()
    async def reprioritize_queued(run: RunRef, priority: Priority) -> Run:
        """Give a queued run another priority: it goes behind the runs already waiting at
        that priority (100 puts it first). Returns the run."""
        return await work.reprioritize(run, priority, actor())
