"""The states of a merge-queue entry and which may follow which.

::

    waiting -> rebasing -> checking -> merging -> merged
                  |  ^         |          |
                  v  |         v          v
               resolving <-----+      rebasing (the base moved)

An entry fails (``failed``) when a bound is reached or something needs a person, and is
cancelled (``cancelled``) by a person or when its pull request is closed by hand. A failed
entry may be retried (back to ``waiting``). Every change is recorded with its reason.
"""

from __future__ import annotations

from enum import StrEnum


class MergeState(StrEnum):
    WAITING = "waiting"      # in line behind the entries before it on its base branch
    REBASING = "rebasing"    # the run's branch is being rebased onto the current base
    RESOLVING = "resolving"  # the run's agent fixes a conflict or failed checks
    CHECKING = "checking"    # tests (local) or the pull request's checks (GitHub)
    MERGING = "merging"      # the base is moved to the checked commit
    MERGED = "merged"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still in the queue (not merged, failed or cancelled)."""
        return self not in ENDED

    @property
    def is_working(self) -> bool:
        """Being worked on: the head of its base branch's line."""
        return self in WORKING


ENDED = frozenset({MergeState.MERGED, MergeState.FAILED, MergeState.CANCELLED})
WORKING = frozenset({MergeState.REBASING, MergeState.RESOLVING, MergeState.CHECKING,
                     MergeState.MERGING})

TRANSITIONS: dict[MergeState, frozenset[MergeState]] = {
    MergeState.WAITING: frozenset({MergeState.REBASING, MergeState.CANCELLED,
                                   MergeState.FAILED}),
    MergeState.REBASING: frozenset({MergeState.CHECKING, MergeState.RESOLVING,
                                    MergeState.MERGED, MergeState.FAILED,
                                    MergeState.CANCELLED}),
    MergeState.RESOLVING: frozenset({MergeState.REBASING, MergeState.FAILED,
                                     MergeState.CANCELLED}),
    MergeState.CHECKING: frozenset({MergeState.MERGING, MergeState.RESOLVING,
                                    MergeState.REBASING, MergeState.FAILED,
                                    MergeState.CANCELLED}),
    MergeState.MERGING: frozenset({MergeState.MERGED, MergeState.REBASING,
                                   MergeState.FAILED, MergeState.CANCELLED}),
    MergeState.MERGED: frozenset(),
    MergeState.FAILED: frozenset({MergeState.WAITING, MergeState.CANCELLED}),
    MergeState.CANCELLED: frozenset(),
}


def allowed(old: MergeState, new: MergeState) -> bool:
    return new in TRANSITIONS[old]
