"""The job queue, the one way work reaches an executor (DESIGN §8).

Every producer (chat, CLI, MCP, schedules, webhooks, formulas) enqueues; an executor claims a
job, holds it under a lease while it works, renews the lease if the work is long, and acks it
or reports a failure. Two backends implement this protocol and pass the same contract tests:
``SqliteJobQueue`` (the embedded default, a table in ``gluon.db``) and ``RedisJobQueue``
(``[cluster] redis_url``, for ``gluon worker`` processes on other hosts).

Guarantees:

- **At least once.** A job whose worker dies (or hangs past its lease) is claimed again by
  another worker once the lease runs out, so a handler may see the same job twice and must be
  idempotent.
- **Fencing.** Every claim gets a new, larger token; ``renew``, ``ack`` and ``fail`` with an
  older token raise :class:`LeaseLost`. A lease that ran out but whose job nobody claimed again
  is still valid.
- **Idempotent enqueue.** A ``key`` names what the job is (``cron:<id>:<fire time>``,
  ``gh:<delivery id>``); enqueueing the same key again returns the first job's id and adds
  nothing, whatever state that job is in, so a replayed webhook or a second cron fire never
  starts two jobs. Keys are kept as long as their job.
- **Order.** The highest ``priority`` (-100 to 100, default 0) first; within a priority, jobs
  in the order they became ready (their enqueue or ``not_before`` time; a retried job is ready
  again at its retry time). No job is claimed before its ``not_before``. A job moved to
  another priority (``reprioritize``) goes behind the jobs already waiting at that priority;
  one not yet due keeps its ``not_before`` and lines up when it comes due.
- **Retries.** ``fail`` puts a job back at ``retry_at``, by default after an exponential
  backoff (:class:`RetryPolicy`); its ``max_tries``-th failure makes it dead, with the error
  kept. A job whose lease runs out ``max_tries`` times is dead too (a job that kills its worker
  must not kill every worker in turn).

Payloads are JSON objects stored in plain text (SQLite file, Redis memory): never put a secret
in one. Keys that look like secrets (``token``, ``password``, ``api_key``, ...) and values that
look like well-known credentials are refused; pass the name of a config key or environment
variable instead.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Protocol

from core.jobs.types import Job, JobId, JobState, Json, Lease


class JobQueue(Protocol):
    async def enqueue(self, kind: str, payload: Mapping[str, Json], *, key: str | None = None,
                      not_before: float | None = None, priority: int = 0) -> JobId:
        """Add a job (or return the id of the job already enqueued with ``key``)."""
        ...

    async def claim(self, worker: str, *, lease_seconds: float) -> Lease | None:
        """Lease the next ready job to ``worker``, or return None when none is ready."""
        ...

    async def reprioritize(self, job_id: JobId, priority: int) -> Job:
        """Move a waiting (queued) job to ``priority``: it goes behind the jobs already
        waiting there (a job not yet due keeps its time); the same priority changes nothing.
        NotFound without such a job; Conflict when it is leased, done or dead."""
        ...

    async def renew(self, lease: Lease, *, lease_seconds: float | None = None) -> Lease:
        """Extend the lease from now (by its own length by default); LeaseLost if stale."""
        ...

    async def ack(self, lease: Lease) -> None:
        """The job is done; LeaseLost if the lease is stale."""
        ...

    async def fail(self, lease: Lease, error: str, retry_at: float | None = None) -> JobState:
        """The try failed: queue it again (QUEUED) or, after max_tries, keep it as DEAD."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the job back untouched: claimable again at once, in the place it had, and this
        claim not counted as a try (a holder that took it but never started it, e.g. one
        that stops); LeaseLost if the lease is stale."""
        ...

    async def expire(self, worker_prefix: str) -> int:
        """Let every lease held by a worker whose name starts with ``worker_prefix`` run out
        now, so the next claim takes the job over (counting a try), without waiting out the
        lease. For a caller that knows those workers are dead (e.g. the one process allowed
        on a data dir, after a restart). Returns how many leases ran out."""
        ...

    async def ping(self) -> None:
        """Check that the backend answers (QueueUnavailable if it does not)."""
        ...

    async def get(self, job_id: JobId) -> Job:
        """One job; NotFound if there is none with this id."""
        ...

    async def list(self, *, state: JobState | None = None, kind: str | None = None,
                   limit: int = 100) -> builtins.list[Job]:
        """Jobs, newest first, optionally only those in ``state`` or of ``kind``."""
        ...

    async def dead_letters(self, limit: int = 100) -> builtins.list[Job]:
        """Dead jobs, the most recently dead first, each with its last error."""
        ...

    async def close(self) -> None:
        """Release the connection (idempotent). Nothing enqueued is lost."""
        ...
