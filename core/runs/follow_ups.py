"""What happens when an agent finishes a turn well: the features built on runs (formulas, the
quality gates, the autonomous loop, supervision policies) may give it more to do before the run
goes to review.

The run layer knows none of them: each registers a :data:`FollowUpHook` in
``RunManager.follow_ups`` (in the order they should be asked). When a turn ends without an error
and nothing else is pending, the run's supervisor asks them in order; the first answer that is
not None decides:

- :class:`FollowUp`: the run goes back to ``queued`` with ``message`` as its next prompt, and its
  next start is a new job in the job queue (so every step or iteration is one job, and a Gluon
  that stops meanwhile goes on from there). ``fresh_session`` starts a new agent session in the
  same worktree, branch and run (a formula's next step); otherwise the same session goes on.
- :class:`Finish`: the run ends now in ``state`` with ``reason`` (a loop whose breaker opened,
  or a formula whose last step failed).

A hook runs in the supervisor, with the agent idle; it may take minutes (a test gate). A hook
that raises is logged and skipped, so a broken feature never loses the agent's work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.agent.session import AgentResult
from core.models import Run
from core.types import RunState


@dataclass(frozen=True)
class FollowUp:
    message: str  # the agent's next prompt
    reason: str  # the run's state reason until it starts again ("step 2/4: implement")
    fresh_session: bool = False
    model: str | None = None  # the next turn's model; None: the run's own
    not_before: float | None = None  # wait until then (a rate cap)


@dataclass(frozen=True)
class Finish:
    state: RunState
    reason: str


FollowUpHook = Callable[[Run, AgentResult], Awaitable[FollowUp | Finish | None]]
"""Asked when ``run``'s agent ended a turn with ``result`` (no error): more work, an end, or
None (no opinion)."""
