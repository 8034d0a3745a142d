"""The embedded job queue: a table in ``gluon.db`` (see :mod:`core.jobs.store`).

Claims are atomic across processes sharing the file, so a second executor on the same host
(or a worker script) can claim from the same table; the coordinator's lock keeps there being
one writer of everything else.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path

from core.errors import NotFound
from core.jobs.backoff import RetryPolicy
from core.jobs.payload import (
    check_key,
    check_kind,
    check_lease_seconds,
    check_priority,
    check_time,
    check_worker,
    clip_error,
    decode_payload,
    encode_payload,
)
from core.jobs.store import JobStore
from core.jobs.types import (
    Clock,
    Job,
    JobId,
    JobState,
    Json,
    Lease,
    LeaseLost,
    SystemClock,
    lease_lost,
    new_job_id,
    not_waiting,
)
from core.store.db import Database


class SqliteJobQueue:
    """:class:`core.jobs.queue.JobQueue` over a SQLite table.

    Given a :class:`Database`, the queue uses it and leaves closing it to its owner; opened with
    :meth:`open_file`, it owns its own connection.
    """

    def __init__(self, db: Database, *, clock: Clock | None = None,
                 policy: RetryPolicy | None = None) -> None:
        self.store = JobStore(db)
        self.clock: Clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self._owned: Database | None = None

    async def open(self) -> SqliteJobQueue:
        """Create or update the job tables (once per database file)."""
        await self.store.migrate()
        return self

    @classmethod
    async def open_file(cls, path: Path, *, clock: Clock | None = None,
                        policy: RetryPolicy | None = None) -> SqliteJobQueue:
        db = Database(path)
        await db.open()
        queue = cls(db, clock=clock, policy=policy)
        queue._owned = db
        try:
            return await queue.open()
        except BaseException:
            await db.close()
            raise

    async def enqueue(self, kind: str, payload: Mapping[str, Json], *, key: str | None = None,
                      not_before: float | None = None, priority: int = 0) -> JobId:
        text = encode_payload(payload)
        now = self.clock.now()
        ready_at = check_time("not_before", not_before)
        return await self.store.insert(
            new_job_id(), check_kind(kind), text, check_key(key), check_priority(priority),
            now if ready_at is None else ready_at, now)

    async def claim(self, worker: str, *, lease_seconds: float) -> Lease | None:
        seconds = check_lease_seconds(lease_seconds)
        now = self.clock.now()
        got = await self.store.claim(check_worker(worker), now, now + seconds,
                                     self.policy.max_tries)
        if got is None:
            return None
        return Lease(job_id=got.id, kind=got.kind, payload=decode_payload(got.payload),
                     token=got.fence, tries=got.tries, leased_until=now + seconds,
                     lease_seconds=seconds, worker=worker, priority=got.priority)

    async def renew(self, lease: Lease, *, lease_seconds: float | None = None) -> Lease:
        seconds = check_lease_seconds(lease.lease_seconds if lease_seconds is None
                                      else lease_seconds)
        now = self.clock.now()
        if not await self.store.renew(lease.job_id, lease.token, now + seconds, now):
            raise await self._lost(lease, "renew")
        return Lease(job_id=lease.job_id, kind=lease.kind, payload=lease.payload,
                     token=lease.token, tries=lease.tries, leased_until=now + seconds,
                     lease_seconds=seconds, worker=lease.worker, priority=lease.priority)

    async def reprioritize(self, job_id: JobId, priority: int) -> Job:
        check_priority(priority)
        job = await self.get(job_id)
        if job.state is not JobState.QUEUED:
            raise not_waiting(job)
        if job.priority != priority and not await self.store.move(job_id, priority,
                                                                   self.clock.now()):
            raise not_waiting(await self.get(job_id))  # claimed meanwhile
        return await self.get(job_id)

    async def ack(self, lease: Lease) -> None:
        if not await self.store.done(lease.job_id, lease.token, self.clock.now()):
            raise await self._lost(lease, "ack")

    async def fail(self, lease: Lease, error: str, retry_at: float | None = None) -> JobState:
        now = self.clock.now()
        text = clip_error(error)
        if self.policy.gives_up(lease.tries):
            if not await self.store.bury(lease.job_id, lease.token, text, now):
                raise await self._lost(lease, "fail")
            return JobState.DEAD
        at = check_time("retry_at", retry_at)
        ready_at = now + self.policy.delay(lease.tries) if at is None else at
        if not await self.store.requeue(lease.job_id, lease.token, ready_at, text, now):
            raise await self._lost(lease, "fail")
        return JobState.QUEUED

    async def release(self, lease: Lease) -> None:
        if not await self.store.release(lease.job_id, lease.token, self.clock.now()):
            raise await self._lost(lease, "release")

    async def expire(self, worker_prefix: str) -> int:
        return await self.store.expire(check_worker(worker_prefix), self.clock.now())

    async def ping(self) -> None:
        """The table is in the coordinator's own database: it always answers."""

    async def get(self, job_id: JobId) -> Job:
        job = await self.store.get(job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    async def list(self, *, state: JobState | None = None, kind: str | None = None,
                   limit: int = 100) -> builtins.list[Job]:
        return await self.store.list(state, kind, max(0, limit))

    async def dead_letters(self, limit: int = 100) -> builtins.list[Job]:
        return await self.store.dead(max(0, limit))

    async def close(self) -> None:
        if self._owned is not None:
            db, self._owned = self._owned, None
            await db.close()

    async def _lost(self, lease: Lease, action: str) -> LeaseLost:
        return lease_lost(lease, action, await self.store.get(lease.job_id))

