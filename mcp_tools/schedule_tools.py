"""Tools for schedules: a prompt run on a project at the times a cron expression names."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.runtime import Runtime
from core.schedules import Overlap, Schedule, ScheduleView
from mcp_tools.params import ProjectRef
from mcp_tools.queue_tools import Priority
from mcp_tools.registry import ToolKit, actor, caller

ScheduleRef = Annotated[str, Field(description="schedule id, or a unique prefix of it")]


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]


def register(kit: ToolKit, rt: Runtime) -> None:
    schedules = rt.schedules

    @kit.tool()
    async def add_schedule(
            project: ProjectRef,
            cron: Annotated[str, Field(description=(
                "5 cron fields: minute hour day-of-month month day-of-week, e.g. "
                "'0 7 * * mon-fri' = 07:00 on weekdays, '*/30 * * * *' = every 30 minutes, "
                "'0 2 1 * *' = 02:00 on the 1st; or @hourly, @daily, @weekly, @monthly"))],
            prompt: Annotated[str, Field(description="the task each run does")],
            tz: Annotated[str | None, Field(description=(
                "IANA time zone the times are in, e.g. Europe/Berlin; default: the Gluon "
                "host's"))] = None,
            overlap: Annotated[Overlap, Field(description=(
                "while the previous run is still live: skip this time (default), queue the "
                "run until it ends, or run in parallel"))] = Overlap.SKIP,
            model: Annotated[str | None, Field(
                description="opus, sonnet, haiku or a full model id; default from config")
            ] = None,
            priority: Priority = 0) -> ScheduleView:
        """Run a prompt on a project on a schedule ("every weekday at 7 run the flaky test
        hunt on api" is cron '0 7 * * mon-fri'). Each fire queues one run; after downtime a
        schedule fires once, not once per missed time. Returns the schedule with its next
        fire times (unix seconds)."""
        return await schedules.add(project, cron, prompt, tz=tz, overlap=overlap,
                                   model=model, priority=priority, actor=actor(),
                                   origin=caller().where)

    @kit.tool(read_only=True)
    async def list_schedules(
            project: Annotated[str | None, Field(description="only this project's schedules")
                               ] = None) -> ScheduleList:
        """Every schedule: its cron expression and time zone, prompt, overlap policy, whether
        it is paused, its next fire times, and what its last fire did."""
        return ScheduleList(schedules=await schedules.list(project))

    @kit.tool()
    async def pause_schedule(schedule: ScheduleRef) -> ScheduleView:
        """Stop a schedule from firing until resumed (times missed meanwhile are not made
        up). Runs it already started are not touched."""
        return await schedules.pause(schedule, actor())

    @kit.tool()
    async def resume_schedule(schedule: ScheduleRef) -> ScheduleView:
        """Let a paused schedule fire again, from its next time after now."""
        return await schedules.resume(schedule, actor())

    async def remove_preview(schedule: str) -> str:
        found = await schedules.get(schedule)
        return (f"delete schedule {found.id} (`{found.cron}` {found.tz} on {found.project}: "
                f"{found.prompt[:60]!r})")

    @kit.tool(destructive=True, preview=remove_preview)
    async def remove_schedule(schedule: ScheduleRef) -> Schedule:
        """Delete a schedule for good; the runs it started are kept."""
        return await schedules.remove(schedule, actor())
