"""Identifiers and status values used across Gluon. A leaf module: imports nothing from Gluon."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NewType, get_args

RunId = NewType("RunId", str)
ProjectName = NewType("ProjectName", str)
InteractionId = NewType("InteractionId", str)
SessionId = NewType("SessionId", str)


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    REVIEW = "review"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    MERGED = "merged"
    CLOSED = "closed"

    @property
    def is_live(self) -> bool:
        """A live run has (or is about to have) an agent process."""
        return self in LIVE_STATES

    @property
    def is_ended(self) -> bool:
        """An ended run has no agent process: it finished, failed, stopped, or was merged or
        closed."""
        return not self.is_live

    @property
    def is_resumable(self) -> bool:
        """An ended run that may be queued again with a new message (not merged or closed)."""
        return self in RESUMABLE_STATES

    @property
    def is_final(self) -> bool:
        return self in (RunState.MERGED, RunState.CLOSED)


LIVE_STATES = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.WAITING})
RESUMABLE_STATES = frozenset({RunState.REVIEW, RunState.FAILED, RunState.CANCELLED,
                              RunState.INTERRUPTED})

# Which state may follow which (DESIGN §4). Resume moves an ended run back to queued.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.CANCELLED, RunState.FAILED,
                                RunState.INTERRUPTED}),
    # Running -> queued: parked until the account's usage limit resets.
    RunState.RUNNING: frozenset({RunState.WAITING, RunState.REVIEW, RunState.FAILED,
                                 RunState.CANCELLED, RunState.INTERRUPTED, RunState.QUEUED}),
    RunState.WAITING: frozenset({RunState.RUNNING, RunState.REVIEW, RunState.FAILED,
                                 RunState.CANCELLED, RunState.INTERRUPTED}),
    RunState.REVIEW: frozenset({RunState.MERGED, RunState.CLOSED, RunState.QUEUED}),
    RunState.FAILED: frozenset({RunState.QUEUED, RunState.CLOSED}),
    RunState.CANCELLED: frozenset({RunState.QUEUED, RunState.CLOSED}),
    RunState.INTERRUPTED: frozenset({RunState.QUEUED, RunState.CANCELLED, RunState.CLOSED}),
    RunState.MERGED: frozenset(),
    RunState.CLOSED: frozenset(),
}


class Role(StrEnum):
    """What a chat user may do, in rising order: a viewer reads, an operator also starts and
    steers runs, an admin also changes settings and who may use the bots."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        """Whether this role may do what ``other`` may."""
        return self.rank >= other.rank


# A role written as its name, as code that names one gives it (``Role(name)`` makes it a
# Role); a tool's parameter keeps this plain form so its schema lists the names inline.
RoleName = Literal["viewer", "operator", "admin"]
assert get_args(RoleName) == tuple(Role), "RoleName and Role list different roles"


class InteractionKind(StrEnum):
    PERMISSION = "permission"
    QUESTION = "question"


class InteractionStatus(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    EXPIRED = "expired"  # the run ended (cancelled, died) before anyone answered


class PermissionChoice(StrEnum):
    ALLOW_ONCE = "allow"
    ALLOW_RUN = "allow_run"
    ALLOW_PROJECT = "allow_project"
    DENY = "deny"
