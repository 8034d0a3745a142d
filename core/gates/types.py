"""The quality gates' vocabulary: the gates, the supervision policies and a gate's record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True)
class GateResult:
    """One run of one gate's command on a run's worktree."""

    id: int
    run_id: str
    gate: Gate
    attempt: int  # 1 + the fixes the agent was asked for on this gate before it, this round
    outcome: Outcome
    command: str
    output: str  # the end of what the command printed
    seconds: float
    at: float

    @property
    def passed(self) -> bool:
        return self.outcome in (Outcome.PASSED, Outcome.FIXED)


@dataclass(frozen=True)
class GateSummary:
    """A gate's latest outcome on a run, and how many times it ran."""

    gate: Gate
    passed: bool
    attempts: int
    command: str
    summary: str  # one line: "passed", "2 errors left", "skipped: program not found", ...
    outcome: Outcome
