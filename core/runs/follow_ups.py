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

A run executed by a ``gluon worker`` has its hooks asked on the coordinator, which holds their
state: the worker's one hook hands the turn back (its :class:`~core.agent.session.AgentResult`
as :func:`encode` writes it, with the reason :data:`HANDED_BACK`) and ends the attempt, and
the coordinator asks its own hooks with it (see :mod:`core.cluster.on_coordinator.follow`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.agent.session import AgentResult
from core.models import Run
from core.runs import overflow
from core.types import RunState

log = logging.getLogger(__name__)

DONE = "the agent finished its task"
"""The reason of a run that goes to review because no hook had more for it."""
HANDED_BACK = "the agent's turn ended; checking what follows it"
"""The reason of a run whose turn a worker handed back to the coordinator's hooks."""


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


async def ask(hooks: Sequence[FollowUpHook], run: Run,
              result: AgentResult) -> FollowUp | Finish | None:
    """The first answer of ``hooks`` that is not None (a hook that raises is skipped)."""
    for hook in hooks:
        try:
            answer = await hook(run, result)
        except Exception:
            log.exception("a follow-up of run %s failed; it is skipped", run.id)
            continue
        if answer is not None:
            return answer
    return None


def landing(answer: FollowUp | Finish) -> tuple[RunState, str, dict[str, Any]]:
    """Where an answer takes the run: its state, reason and the fields that go with them (a
    follow-up's prompt, its wait, model and fresh session)."""
    if isinstance(answer, Finish):
        return answer.state, answer.reason[:1000], {}
    fields: dict[str, Any] = {"pending_prompt": answer.message, "not_before": answer.not_before}
    if answer.fresh_session:
        fields.update(overflow.fresh_session())
    if answer.model:
        fields["model"] = answer.model
    return RunState.QUEUED, answer.reason[:1000], fields


def encode(result: AgentResult) -> str:
    """A turn's result as it waits on the run for the coordinator's hooks (JSON)."""
    return json.dumps(dataclasses.asdict(result))


def decode(text: str) -> AgentResult:
    """What :func:`encode` wrote (ValueError, KeyError or TypeError when it is not that)."""
    data = json.loads(text)
    names = {f.name for f in dataclasses.fields(AgentResult)}
    return AgentResult(**{k: v for k, v in data.items() if k in names})
