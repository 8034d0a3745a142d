"""How a run is doing, in a few words a person acts on: the rules, once, for every surface.

``assess`` is a pure function of a run record and the time: the chat's status messages show
its ``text``; the status page and a health monitor can sort and alert on its ``condition``.
The one thing a run record does not hold is whether the agent is retrying the model API right
now (that is an ephemeral event), so the caller that saw it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.models import Run
from core.types import RunState

QUIET_AFTER = 300.0  # seconds without activity before a live run looks stalled
NEAR_BUDGET = 0.8  # share of its budget a working run has spent before it says so


class Condition(StrEnum):
    QUEUED = "queued"
    WORKING = "working"
    RETRYING = "retrying"  # cannot reach the model API and is trying again
    QUIET = "quiet"  # live, but nothing happened for a while: maybe stuck
    NEAR_BUDGET = "near_budget"  # working, with most of its budget spent
    WAITING = "waiting"  # for a person's answer
    REVIEW = "review"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the daemon stopped under it: resume it
    ENDED = "ended"  # cancelled, merged or closed


# The conditions a person should look at.
NEEDS_ATTENTION = frozenset({Condition.QUIET, Condition.NEAR_BUDGET, Condition.WAITING,
                             Condition.FAILED, Condition.INTERRUPTED})


@dataclass(frozen=True)
class Health:
    condition: Condition
    text: str  # a few words for a person, e.g. "quiet for 7 min"

    @property
    def needs_attention(self) -> bool:
        return self.condition in NEEDS_ATTENTION


def assess(run: Run, now: float, *, retrying: bool = False) -> Health:
    """How `run` is doing at `now` (seconds since the epoch); `retrying`: its agent cannot get
    through to the model API and is trying again."""
    if run.state is RunState.WAITING:
        return Health(Condition.WAITING, "waiting for a person")
    if not run.state.is_live:
        return _ended(run.state)
    if run.state is RunState.QUEUED:
        return Health(Condition.QUEUED, "queued")
    if retrying:
        return Health(Condition.RETRYING, "retrying the model API")
    quiet = now - (run.last_activity_at or run.started_at or run.created_at)
    if quiet > QUIET_AFTER:
        return Health(Condition.QUIET, f"quiet for {int(quiet // 60)} min")
    if run.budget_usd and run.cost_usd >= NEAR_BUDGET * run.budget_usd:
        return Health(Condition.NEAR_BUDGET, f"working, {run.cost_usd / run.budget_usd:.0%} "
                                             f"of its ${run.budget_usd:.2f} budget spent")
    return Health(Condition.WORKING, "working")


def _ended(state: RunState) -> Health:
    if state is RunState.REVIEW:
        return Health(Condition.REVIEW, "ready for review")
    if state is RunState.FAILED:
        return Health(Condition.FAILED, "failed")
    if state is RunState.INTERRUPTED:
        return Health(Condition.INTERRUPTED, "interrupted: resume it")
    return Health(Condition.ENDED, "ended")
