"""A loop as the services and surfaces see it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field


class LoopState(StrEnum):
    ACTIVE = "active"  # the agent is told to continue after each iteration
    DONE = "done"  # the agent said it is done (or its checklist is ticked)
    STOPPED = "stopped"  # a cap or the circuit breaker ended it


class BreakerState(StrEnum):
    """The circuit breaker: ``closed`` while iterations make progress, ``half_open`` one
    iteration before it opens (the agent is warned), ``open`` once it stopped the loop."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


class LoopStatus(BaseModel):
    run_id: str
    state: LoopState
    iteration: int = Field(description="the iteration under way (or the last one), from 1")
    max_loops: int = Field(description="the most iterations the loop may take")
    breaker: BreakerState
    no_progress: int = Field(description="iterations in a row with no file change, no commit "
                                         "and no new error")
    breaker_after: int = Field(description="the breaker opens after this many such iterations")
    spent_usd: float = Field(description="what the loop has cost so far")
    max_cost_usd: float | None = Field(description="the loop stops once it has cost this")
    max_calls_per_hour: int | None = Field(
        description="at most this many iterations start in an hour; later ones wait")
    last_error: str | None = Field(default=None,
                                   description="the error the agent was at, if any")
    stopped_reason: str | None = Field(default=None, description="why the loop ended")
    created_by: str
    created_at: float
    updated_at: float

    @property
    def line(self) -> str:
        """One line for a run card: "loop 3/10 · breaker closed · $1.20 of $10"."""
        spend = f"${self.spent_usd:.2f}"
        spend += f" of {dollars(self.max_cost_usd)}" if self.max_cost_usd is not None else ""
        state = {LoopState.DONE: " · done", LoopState.STOPPED: " · stopped"}.get(self.state, "")
        breaker = str(self.breaker).replace("_", "-")
        return f"loop {self.iteration}/{self.max_loops}{state} · breaker {breaker} · {spend}"


def dollars(amount: float) -> str:
    """$10, $10.50: a cap as people write it."""
    return f"${amount:.0f}" if amount == int(amount) else f"${amount:.2f}"


@dataclass(frozen=True)
class Loop:
    """A loop's row: what :class:`core.loops.service.Loops` decides from."""

    run_id: str
    max_loops: int
    max_cost_usd: float | None
    max_calls_per_hour: int | None
    iteration: int
    state: LoopState
    breaker: BreakerState
    no_progress: int
    last_head: str | None
    last_fingerprint: str | None
    last_error: str | None
    spend_at_start: float
    cost_warned: bool
    turn_times: list[float]
    stopped_reason: str | None
    created_by: str
    created_at: float
    updated_at: float
