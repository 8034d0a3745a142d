"""How a run is doing, in a few words a person acts on: the rules, once, for every surface.

``assess`` is a pure function of a run record and the time: the chat's status messages show
its ``text``; the status page and a health monitor can sort and alert on its ``condition``.
What a run record does not hold, the caller that knows it says: whether the agent is retrying
the model API right now (an ephemeral event), and the witness's verdict on a live run
(core.witness: looping, stuck, stalled, zombie, slow, with its reason). A run the witness
watches is judged by it rather than by its quiet time.
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
    # The witness's verdicts (core.witness) on a live run, with its reason.
    SLOW = "slow"  # progress below its project's usual rate
    LOOPING = "looping"  # the same call or the same error again and again
    STUCK = "stuck"  # no file change and no new kind of action for turns
    STALLED = "stalled"  # no output for long, its process idle
    ZOMBIE = "zombie"  # its process gone while the run is live


# The conditions a person should look at.
NEEDS_ATTENTION = frozenset({Condition.QUIET, Condition.NEAR_BUDGET, Condition.WAITING,
                             Condition.FAILED, Condition.INTERRUPTED, Condition.LOOPING,
                             Condition.STUCK, Condition.STALLED, Condition.ZOMBIE})
WITNESSED = frozenset({Condition.SLOW, Condition.LOOPING, Condition.STUCK, Condition.STALLED,
                       Condition.ZOMBIE})

Verdict = tuple[str, str]
"""The witness's classification of a live run and its reason: ("looping", "the same ...");
("healthy", "") for a run it watches and finds well (or whose alarms are silenced)."""


@dataclass(frozen=True)
class Health:
    condition: Condition
    text: str  # a few words for a person, e.g. "quiet for 7 min"

    @property
    def needs_attention(self) -> bool:
        return self.condition in NEEDS_ATTENTION


def assess(run: Run, now: float, *, retrying: bool = False,
           verdict: Verdict | None = None) -> Health:
    """How `run` is doing at `now` (seconds since the epoch); `retrying`: its agent cannot get
    through to the model API and is trying again; `verdict`: the witness's, when it watches
    the run (None: it does not)."""
    if run.state is RunState.WAITING:
        return Health(Condition.WAITING, "waiting for a person")
    if not run.state.is_live:
        return _ended(run.state)
    if run.state is RunState.QUEUED:
        return Health(Condition.QUEUED, "queued")
    if retrying:
        return Health(Condition.RETRYING, "retrying the model API")
    if verdict is not None and verdict[0] in WITNESSED:
        return Health(Condition(verdict[0]), f"{verdict[0]}: {verdict[1]}")
    quiet = now - (run.last_activity_at or run.started_at or run.created_at)
    if verdict is None and quiet > QUIET_AFTER:
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
