"""Tools for the witness: how a live run is doing (healthy, looping, stuck, stalled, zombie)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.runtime import Runtime
from core.witness import Classification, RunHealth
from mcp_tools.params import RunRef
from mcp_tools.registry import ToolKit, actor


class HealthChange(BaseModel):
    classification: Classification
    reason: str
    at: float = Field(description="seconds since the epoch")


class WitnessHealth(BaseModel):
    classification: Classification = Field(
        description="healthy (making progress), slow (live much longer than its project's "
        "runs usually take), looping (the same tool call or error again and "
        "again), stuck (no file change and no new kind of action for several turns), "
        "stalled (its process alive but silent at ~0% CPU), zombie (its process is gone)")
    reason: str
    since: float = Field(description="seconds since the epoch")
    silenced: bool = Field(description="a person said its alarms are false: nothing is said "
                           "or done about it")

    @classmethod
    def of(cls, h: RunHealth) -> WitnessHealth:
        return cls(classification=h.classification, reason=h.reason, since=h.since,
                   silenced=h.silenced)


class WitnessReport(WitnessHealth):
    run_id: str
    history: list[HealthChange] = Field(description="each change of classification, oldest "
                                        "first (the last 50)")

    @classmethod
    def full(cls, h: RunHealth) -> WitnessReport:
        return cls(run_id=h.run_id, classification=h.classification, reason=h.reason,
                   since=h.since, silenced=h.silenced,
                   history=[HealthChange(classification=c.classification, reason=c.reason,
                                         at=c.at) for c in h.history])


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def get_run_health(run: RunRef) -> WitnessReport:
        """How the witness sees a run: healthy, looping, stuck, stalled or zombie, why, since
        when, whether its alarms are silenced, and the history of its classifications."""
        return WitnessReport.full(await rt.witness.health(run))

    @kit.tool()
    async def silence_run_health(
            run: RunRef,
            silenced: Annotated[bool, Field(description="false: listen to its alarms again")]
            = True) -> WitnessReport:
        """Silence a run's health alarms (a false alarm): the witness still classifies it but
        says and does nothing about it (no note, nudge or restart)."""
        return WitnessReport.full(await rt.witness.silence(run, silenced, actor=actor()))
