"""What a schedule is, as stored and as the tools return it. A leaf module: imports nothing
from Gluon but the id types."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from core.types import ProjectName, RunId


class Overlap(StrEnum):
    """What a fire does while the schedule's previous run is still live (queued, running or
    waiting for a person)."""

    SKIP = "skip"  # fire nothing this time
    QUEUE = "queue"  # queue the run; it starts once the previous one has ended
    PARALLEL = "parallel"  # start it anyway, next to the previous one


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    project: ProjectName
    prompt: str
    cron: str = Field(description="5 cron fields (minute hour day-of-month month "
                                  "day-of-week) or an @alias")
    tz: str = Field(description="IANA time zone the cron expression is read in")
    overlap: Overlap
    priority: int
    model: str | None
    paused: bool
    created_by: str
    origin: str = Field(description="the conversation it was made in, if any")
    created_at: float
    next_fire_at: float | None = Field(description="unix seconds; null while paused")
    last_fire_at: float | None
    last_run_id: RunId | None
    last_result: str = Field(description="what the last fire did")
    fires: int = Field(description="how many times it has fired")
