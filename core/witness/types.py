"""The witness's vocabulary: a run's classification, with its reason and its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Classification(StrEnum):
    HEALTHY = "healthy"  # making progress
    SLOW = "slow"  # live much longer than its project's runs usually take
    LOOPING = "looping"  # the same tool call again and again
    STUCK = "stuck"  # no file change and no new kind of action for several turns
    STALLED = "stalled"  # its process is alive but silent and idle
    ZOMBIE = "zombie"  # Gluon thinks it is live but its process is gone


@dataclass(frozen=True)
class Verdict:
    classification: Classification
    reason: str  # a few words for a person, e.g. "no output for 10 min at 0% CPU"


@dataclass(frozen=True)
class Change:
    classification: Classification
    reason: str
    at: float


@dataclass(frozen=True)
class RunHealth:
    run_id: str
    classification: Classification
    reason: str
    since: float
    silenced: bool
    history: list[Change] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"classification": str(self.classification), "reason": self.reason,
                "since": self.since, "silenced": self.silenced}
