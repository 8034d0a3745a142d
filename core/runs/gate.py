"""The one gate a queued run passes before its agent starts (DESIGN §8).

The executor asks it about each claimed run start (see :mod:`core.runs.executor`): the global
and per-project concurrency limits, read afresh from the settings on every pass (``set_setting``
changes them while Gluon runs), today's global and per-project budgets, then any further
check: circuit breakers plug in as a :data:`HoldCheck`. A run the gate holds stays queued;
the reason says what it waits for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from core.budget.usage import Usage
from core.config import Config
from core.errors import BudgetExceeded
from core.models import Run

HoldCheck = Callable[[Run], Awaitable[str | None]]
"""A further check: why ``run`` must wait (one line), or None to let it start."""


@dataclass
class Capacity:
    """The concurrency limits as they are now, and the live runs counted against them."""

    max_concurrent: int
    per_project: int  # the default limit of a project that sets none
    live: dict[str, int] = field(default_factory=dict)  # live runs by project

    @property
    def total(self) -> int:
        return sum(self.live.values())

    @property
    def full(self) -> bool:
        return self.total >= self.max_concurrent

    def take(self, project: str) -> None:
        self.live[project] = self.live.get(project, 0) + 1


@dataclass(frozen=True)
class Hold:
    """Why a run may not start yet. ``noted``: worth telling a person (the budget, a breaker),
    unlike a full slot, which is what a queue is for."""

    reason: str
    noted: bool = False


class Gate:
    def __init__(self, config: Config, usage: Usage, checks: Sequence[HoldCheck] = ()) -> None:
        self.config = config
        self.usage = usage
        self.checks = list(checks)

    async def capacity(self, live_projects: Iterable[str]) -> Capacity:
        """The limits read now, with one live run counted for each entry of ``live_projects``."""
        live = list(live_projects)  # before awaiting: the runs it is made from may change meanwhile
        agents = await self.usage.settings.agents(self.config)
        cap = Capacity(agents.max_concurrent, agents.max_concurrent_per_project)
        for project in live:
            cap.take(project)
        return cap

    async def hold(self, run: Run, cap: Capacity) -> Hold | None:
        """Why ``run`` must wait, or None when it may start now (then count it with
        ``cap.take``)."""
        if cap.full:
            return Hold(f"{cap.total} runs are live, the limit is {cap.max_concurrent}")
        limit = self.config.project(run.project).max_concurrent or cap.per_project
        if cap.live.get(run.project, 0) >= limit:
            return Hold(f"project {run.project!r} has {limit} live runs, its limit")
        try:
            await self.usage.check_budgets(run.project)
        except BudgetExceeded as exc:
            return Hold(str(exc), noted=True)
        for check in self.checks:
            reason = await check(run)
            if reason is not None:
                return Hold(reason, noted=True)
        return None
