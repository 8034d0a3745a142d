"""Tools for the event log: what happened to runs, read from a cursor."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, JsonValue

from core.events.bus import Event
from core.events.log import Page, describe, fields_of
from core.runtime import Runtime
from mcp_tools.params import Limit
from mcp_tools.registry import ToolKit


class LoggedEvent(BaseModel):
    seq: int = Field(description="the event's place in the log; strictly increasing")
    kind: str = Field(description="RunStateChanged, InteractionRequested, InteractionAnswered, "
                      "RunComment")
    run_id: str
    project: str
    at: float = Field(description="when it happened, in seconds since the epoch")
    summary: str = Field(description="what happened, in one line")
    data: dict[str, JsonValue] = Field(description="the event's own fields")

    @classmethod
    def of(cls, event: Event) -> LoggedEvent:
        assert event.seq is not None
        return cls(seq=event.seq, kind=type(event).__name__, run_id=event.run_id,
                   project=event.project, at=event.at, summary=describe(event),
                   data=fields_of(event))


class EventList(BaseModel):
    events: list[LoggedEvent]
    next_cursor: int = Field(description="pass as `after` to get only newer events")


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def list_events(
            after: Annotated[int | None, Field(
                ge=0, description="only events after this seq (a next_cursor); omit it for "
                "the most recent events")] = None,
            limit: Limit = 100,
            run_id: Annotated[str | None, Field(
                description="only this run's events (its id or a unique prefix)")] = None,
            wait_seconds: Annotated[float, Field(
                ge=0, le=60, description="with `after`: wait this long for a new event when "
                "there is none yet")] = 0) -> EventList:
        """The event log: every run's state changes (queued, running, waiting, review,
        failed, ...) with their reason, and every question or permission request and its
        answer, oldest first, each with its seq. Use it to see what happened across runs, or
        to keep up: pass the returned next_cursor as `after` next time (with `wait_seconds`
        to wait for the next event). What agents say and do is in get_run_logs instead."""
        found = (await rt.runs.get(run_id)).id if run_id is not None else None
        page: Page
        if after is None:
            page = await rt.events.latest(limit, run_id=found)
        else:
            page = await rt.events.wait(after, limit, run_id=found, timeout=wait_seconds)
        return EventList(events=[LoggedEvent.of(e) for e in page.events],
                         next_cursor=page.next)
