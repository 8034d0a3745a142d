"""What Gluon does with a run's work: the merge queue, the autonomous loop, the quality gates
and the witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from core.config.section import Section


class MergeConfig(Section):
    """The merge queue: how many times it lets a run's agent fix a conflict or failed checks,
    rebases again when the base moved, and how long it waits for tests and checks."""

    conflict_fixes: Annotated[int, Field(ge=0, le=10)] = 2
    check_fixes: Annotated[int, Field(ge=0, le=10)] = 2
    rebases: Annotated[int, Field(ge=1, le=20)] = 3
    test_timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 20.0
    checks_timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 60.0
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 15.0


class LoopConfig(Section):
    """The autonomous loop (``gluon run --loop``): its default caps, when its circuit breaker
    opens, and the checklist file that ends it once every item is ticked."""

    max_loops: Annotated[int, Field(ge=1, le=1000)] = 10
    max_cost_usd: Annotated[float | None, Field(gt=0)] = None
    max_calls_per_hour: Annotated[int | None, Field(ge=1)] = 100
    breaker_after: Annotated[int, Field(ge=1, le=100)] = 3
    todo_file: str = "TODO.md"

    @field_validator("todo_file")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v.strip() or v.startswith("/") or ".." in Path(v).parts:
            raise ValueError("a path inside the worktree, such as TODO.md")
        return v


class GatesConfig(Section):
    """The quality gates (core/gates): lint auto-fix, lint and tests after a run's work, the
    agent asked to fix what fails at most ``max_fixes`` times per gate."""

    enabled: bool = True
    max_fixes: Annotated[int, Field(ge=0, le=10)] = 3
    timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 10.0


class WitnessConfig(Section):
    """The witness (core/witness): when a live run looks looping, stuck, stalled or a zombie."""

    enabled: bool = True
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0  # the timer's period
    window: Annotated[int, Field(ge=2, le=1000)] = 12  # recent tool calls looked at
    loop_repeats: Annotated[int, Field(ge=2, le=100)] = 4  # the same call this often: looping
    stuck_turns: Annotated[int, Field(ge=1, le=1000)] = 5  # turns without progress: stuck
    stalled_after_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    stalled_cpu_percent: Annotated[float, Field(gt=0, le=100)] = 1.0  # below it: idle
    # Slow: live longer than slow_factor times the median time of the project's last finished
    # runs (review or merged), once it has slow_min_runs of them.
    slow_factor: Annotated[float, Field(gt=1, le=100)] = 3.0
    slow_min_runs: Annotated[int, Field(ge=1, le=1000)] = 5

    @model_validator(mode="after")
    def _repeats_fit_the_window(self) -> WitnessConfig:
        if self.loop_repeats > self.window:
            raise ValueError(f"loop_repeats ({self.loop_repeats}) must not exceed window "
                             f"({self.window}): a loop could never be seen")
        return self
