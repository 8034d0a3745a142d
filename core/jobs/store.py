"""The ``jobs`` table: the only module with the job queue's SQL (the table's one writer).

Every change that depends on what is stored runs as one ``BEGIN IMMEDIATE`` transaction, so it
is atomic across every process that opens the same file: SQLite lets one writer in at a time
and the others wait (``busy_timeout``). A lease is the ``leased_until`` column; ``fence`` is
the newest lease's token, and every write by a lease holder is conditional on it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import aiosqlite

from core.jobs.migrations import JOB_MIGRATIONS, RECORD_TABLE
from core.jobs.payload import decode_payload
from core.jobs.types import Job, JobId, JobState
from core.store.db import Database

_CLAIMABLE = """
    state IN ('queued', 'leased')
    AND ((state = 'queued' AND ready_at <= :now) OR (state = 'leased' AND leased_until <= :now))
"""


@dataclass(frozen=True)
class Claimed:
    id: JobId
    kind: str
    payload: str
    fence: int
    tries: int
    priority: int


def _job(row: aiosqlite.Row) -> Job:
    return Job(id=JobId(row["id"]), kind=row["kind"], payload=decode_payload(row["payload"]),
               key=row["key"], priority=row["priority"], state=JobState(row["state"]),
               tries=row["tries"], not_before=row["ready_at"], leased_until=row["leased_until"],
               worker=row["worker"], error=row["error"], enqueued_at=row["enqueued_at"],
               updated_at=row["updated_at"])


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def migrate(self) -> builtins.list[str]:
        return await self.db.migrate(JOB_MIGRATIONS, RECORD_TABLE)

    async def insert(self, job_id: JobId, kind: str, payload: str, key: str | None,
                     priority: int, ready_at: float, now: float) -> JobId:
        """Add a job, or return the id of the one already stored under ``key``."""
        async with self.db.transaction():
            if key is not None:
                row = await self.db.fetchone("SELECT id FROM jobs WHERE key = ?", (key,))
                if row is not None:
                    return JobId(row["id"])
            await self.db.execute(
                "INSERT INTO jobs (id, kind, payload, key, priority, state, ready_at, "
                "enqueued_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, kind, payload, key, priority, ready_at, now, now))
        return job_id

    async def claim(self, worker: str, now: float, until: float,
                    max_tries: int) -> Claimed | None:
        """Lease the first claimable job: queued and due, or leased with its lease run out.

        A job whose lease ran out on its ``max_tries``-th try is made dead instead."""
        # INDEXED BY: walk the claim index in claim order and stop at the first claimable job
        # (the planner, without statistics, would rather sort every queued job).
        params = {"now": now, "until": until, "worker": worker, "max_tries": max_tries}
        async with self.db.transaction():
            await self.db.execute(
                "UPDATE jobs INDEXED BY jobs_expired SET state = 'dead', updated_at = :now, "
                "leased_until = NULL, "
                "error = 'the lease of worker ' || quote(worker) || ' ran out on try ' || tries "
                "|| ' (the worker died or hung)' "
                "WHERE state = 'leased' AND leased_until <= :now AND tries >= :max_tries",
                params)
            row = await self.db.fetchone(
                "UPDATE jobs SET state = 'leased', worker = :worker, leased_until = :until, "
                "tries = tries + 1, fence = fence + 1, updated_at = :now "
                f"WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_claim WHERE {_CLAIMABLE} "
                "              ORDER BY priority DESC, ready_at, seq LIMIT 1) "
                "RETURNING id, kind, payload, fence, tries, priority", params)
        if row is None:
            return None
        return Claimed(JobId(row["id"]), row["kind"], row["payload"], row["fence"],
                       row["tries"], row["priority"])

    async def move(self, job_id: JobId, priority: int, now: float) -> bool:
        """A queued job to ``priority``, behind the jobs already ready there: its ``seq``
        becomes the newest and a ready job's ``ready_at`` now (a job not yet due keeps its
        time). False when the job is not queued."""
        return await self.db.execute(
            "UPDATE jobs SET priority = ?, ready_at = max(ready_at, ?), updated_at = ?, "
            "seq = (SELECT max(seq) + 1 FROM jobs) WHERE id = ? AND state = 'queued'",
            (priority, now, now, job_id)) == 1

    async def renew(self, job_id: JobId, fence: int, until: float, now: float) -> bool:
        return await self._held(
            "UPDATE jobs SET leased_until = ?, updated_at = ? ", (until, now), job_id, fence)

    async def done(self, job_id: JobId, fence: int, now: float) -> bool:
        return await self._held(
            "UPDATE jobs SET state = 'done', leased_until = NULL, updated_at = ? ", (now,),
            job_id, fence)

    async def requeue(self, job_id: JobId, fence: int, ready_at: float, error: str,
                      now: float) -> bool:
        return await self._held(
            "UPDATE jobs SET state = 'queued', ready_at = ?, error = ?, leased_until = NULL, "
            "updated_at = ? ", (ready_at, error, now), job_id, fence)

    async def release(self, job_id: JobId, fence: int, now: float) -> bool:
        """Back to queued in its old place (``ready_at`` kept), the claim not counted."""
        return await self._held(
            "UPDATE jobs SET state = 'queued', leased_until = NULL, tries = tries - 1, "
            "updated_at = ? ", (now,), job_id, fence)

    async def expire(self, worker_prefix: str, now: float) -> int:
        """Every lease of a worker whose name starts with ``worker_prefix`` runs out now."""
        return await self.db.execute(
            "UPDATE jobs SET leased_until = ?, updated_at = ? WHERE state = 'leased' "
            "AND leased_until > ? AND substr(worker, 1, length(?)) = ?",
            (now, now, now, worker_prefix, worker_prefix))

    async def bury(self, job_id: JobId, fence: int, error: str, now: float) -> bool:
        return await self._held(
            "UPDATE jobs SET state = 'dead', error = ?, leased_until = NULL, updated_at = ? ",
            (error, now), job_id, fence)

    async def _held(self, update: str, params: tuple[object, ...], job_id: JobId,
                    fence: int) -> bool:
        """Run ``update`` only while the lease with ``fence`` is the job's newest one."""
        changed = await self.db.execute(
            update + "WHERE id = ? AND fence = ? AND state = 'leased'", (*params, job_id, fence))
        return changed == 1

    async def get(self, job_id: JobId) -> Job | None:
        row = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(row) if row is not None else None

    async def list(self, state: JobState | None, kind: str | None,
                   limit: int) -> builtins.list[Job]:
        where, params = [], []
        if state is not None:
            where.append("state = ?")
            params.append(str(state))
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs {clause}ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [_job(row) for row in rows]

    async def dead(self, limit: int) -> builtins.list[Job]:
        rows = await self.db.fetchall(
            "SELECT * FROM jobs WHERE state = 'dead' ORDER BY updated_at DESC, seq DESC "
            "LIMIT ?", (limit,))
        return [_job(row) for row in rows]
