"""Job ids, states, what a job and a lease look like, the clock, and the queue's errors.

A leaf module: imports nothing from Gluon but the error base classes.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType, Protocol, TypeAlias

from core.errors import Conflict, GluonError, UserError

JobId = NewType("JobId", str)


def new_job_id() -> JobId:
    return JobId(secrets.token_hex(8))


# What a payload may hold: JSON, with objects as str-keyed dicts.
Json: TypeAlias = "None | bool | int | float | str | list[Json] | dict[str, Json]"


class JobState(StrEnum):
    QUEUED = "queued"  # waiting for its not-before time, or ready to be claimed
    LEASED = "leased"  # a worker holds it until its lease runs out
    DONE = "done"  # acked
    DEAD = "dead"  # failed (or its lease ran out) max_tries times; its last error is kept


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one job until ``leased_until``.

    ``token`` is the fencing token: it grows by one every time the job is claimed, and renew,
    ack and fail succeed only with the newest one. A worker whose lease ran out and whose job
    was claimed by another worker therefore cannot finish it twice; anything it writes elsewhere
    should carry the token so that the newer holder's writes win.
    """

    job_id: JobId
    kind: str
    payload: dict[str, Json]
    token: int
    tries: int  # this claim included
    leased_until: float
    lease_seconds: float
    worker: str
    priority: int = 0  # the job's priority when it was claimed


@dataclass(frozen=True)
class Job:
    """A job as stored, for inspection (``get``, ``list``, ``dead_letters``)."""

    id: JobId
    kind: str
    payload: dict[str, Json]
    key: str | None
    priority: int
    state: JobState
    tries: int
    not_before: float  # when it is (next) due
    leased_until: float | None
    worker: str | None
    error: str | None  # the last failure, kept when the job is retried, done or dead
    enqueued_at: float
    updated_at: float


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch (injectable so tests need not sleep)."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class LeaseLost(GluonError):
    """The lease is stale: its job was claimed again by another worker, or is already finished.

    The worker holding it must stop working on the job and must not report on it."""


class QueueUnavailable(UserError):
    """The job queue's backend (Redis) does not answer."""


def not_waiting(job: Job) -> Conflict:
    """Why a job that is not waiting in the queue cannot be moved in it, in one line."""
    if job.state is JobState.LEASED:
        return Conflict(f"job {job.id!r} cannot be moved: worker {job.worker!r} holds it "
                        "(it is being worked on)")
    return Conflict(f"job {job.id!r} cannot be moved: it is already {job.state}")


def lease_lost(lease: Lease, action: str, job: Job | None) -> LeaseLost:
    """Why a lease holder may no longer ``action`` its job, in one line."""
    head = f"cannot {action} job {lease.job_id!r} with lease token {lease.token}"
    if job is None:
        return LeaseLost(f"{head}: the job no longer exists")
    if job.state is JobState.LEASED or (job.state is JobState.QUEUED and job.tries > lease.tries):
        return LeaseLost(f"{head}: its lease ran out and worker {job.worker!r} claimed it again "
                         f"(try {job.tries})")
    return LeaseLost(f"{head}: the job is already {job.state} (by try {job.tries})")
