"""The quality gates' vocabulary: the gates, the supervision policies and a gate's record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Gate(StrEnum):
    LINT_FIX = "lint_fix"  # the linter's auto-fix; its changes are committed by Gluon
    LINT = "lint"
    TEST = "test"

    @property
    def label(self) -> str:
        return {"lint_fix": "Lint auto-fix", "lint": "Lint", "test": "Tests"}[self.value]

    @property
    def emoji(self) -> str:
        return "🧪" if self is Gate.TEST else "🧹"


class Supervision(StrEnum):
    """What happens when the gates give up on a run (see core/gates/policy.py)."""

    MANUAL = "manual"  # the run goes to review with its failing gates recorded and said
    CONSERVATIVE = "conservative"  # one more resume first
    AGGRESSIVE = "aggressive"  # resumes until they pass, within the budget and a hard cap


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    MISSING = "missing"  # the command's program is not installed: skipped, and said
    FIXED = "fixed"  # the auto-fix changed files (committed)


class GateResult(BaseModel):
    """One run of one gate's command on a run's worktree."""

    model_config = ConfigDict(frozen=True)

    id: int
    run_id: str
    gate: Gate
    attempt: int = Field(description="1 + the fixes the agent was asked for on this gate "
                         "before it, in this round of gates")
    outcome: Outcome
    command: str
    output: str = Field(description="the end of what the command printed")
    seconds: float
    at: float

    @property
    def passed(self) -> bool:
        return self.outcome in (Outcome.PASSED, Outcome.FIXED)


class GateSummary(BaseModel):
    """A gate's latest outcome on a run, and how many times it ran."""

    model_config = ConfigDict(frozen=True)

    gate: Gate
    passed: bool
    attempts: int = Field(description="how many times the gate's command ran on the run")
    command: str
    summary: str = Field(description='one line: "passed", "2 errors left", "1 failure", '
                         '"skipped: its program is not installed", ...')
