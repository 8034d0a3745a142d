"""A run stopped by the account's usage limit (a Claude subscription's five-hour or weekly
limit) is parked: it goes back to ``queued`` with its earliest start at the limit's reset and
the reason "paused until 14:00: usage limit", and its next start job waits until then. It goes
on by itself, in the same session, at most ``agents.usage_limit_resumes`` times in
``agents.usage_limit_window_hours``; past that it fails, saying so, so an automatic resume never
quietly spends the next window. The state change reaches the people following the run like any
other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.agent.session import AgentUsageLimit
from core.config import AgentsConfig
from core.models import Transition
from core.runs.prompts import USAGE_LIMIT_PROMPT
from core.runs.requests import clock_time
from core.types import RunState

PAUSED = "paused until "
"""How the reason of a parked run begins."""
MIN_WAIT = 5.0
"""Seconds a parked run waits at least, even when the limit says it has reset already."""


@dataclass(frozen=True)
class Outcome:
    """Where the run goes: parked (``queued``) or ``failed``, why, and what else to record."""

    state: RunState
    reason: str
    fields: dict[str, Any] = field(default_factory=dict)


def parked_times(transitions: Sequence[Transition], since: float) -> int:
    """How many times the run was parked since ``since``."""
    return sum(1 for t in transitions if t.to_state is RunState.QUEUED
               and t.reason.startswith(PAUSED) and t.at >= since)


def decide(limit: AgentUsageLimit, transitions: Sequence[Transition], agents: AgentsConfig,
           now: float) -> Outcome | None:
    """What becomes of a run whose turn the usage limit stopped; None when the reset time is
    not known (the run fails as for any other refusal of the model API)."""
    if limit.resets_at is None:
        return None
    until = max(limit.resets_at, now + MIN_WAIT)
    when = clock_time(until, now)
    hours = agents.usage_limit_window_hours
    done = parked_times(transitions, now - hours * 3600)
    if done >= agents.usage_limit_resumes:
        times = "once" if done == 1 else f"{done} times"
        already = (f"it was resumed automatically {times} in {hours:g} h already" if done
                   else "automatic resumes are off (agents.usage_limit_resumes)")
        return Outcome(RunState.FAILED,
                       f"the account's usage limit is reached until {when}; {already}, so "
                       "resume it yourself when it should go on",
                       {"error": f"usage limit ({limit.window}) until {when}"})
    return Outcome(RunState.QUEUED, f"{PAUSED}{when}: usage limit",
                   {"not_before": until, "pending_prompt": USAGE_LIMIT_PROMPT})
