"""Where the coordinator keeps each dispatched run's place in the cluster (the one writer of
``cluster_runs``): the attempt dispatched, the worker executing it, the newest fence seen and
the last relay entry applied under it (so a redelivered entry changes nothing and a stale
worker's is dropped)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from core.store.db import Database


class Phase(StrEnum):
    DISPATCHED = "dispatched"  # waiting for a worker to take it
    RUNNING = "running"  # a worker took it
    ENDED = "ended"  # its worker was done with the attempt


class Verdict(StrEnum):
    APPLY = "apply"
    DUPLICATE = "duplicate"  # applied already (a redelivery)
    STALE = "stale"  # from a worker whose fence is older than the newest seen
    UNKNOWN = "unknown"  # about a run never dispatched from here


@dataclass(frozen=True)
class ClusterRun:
    run_id: str
    attempt: int
    phase: Phase
    worker: str | None
    fence: int
    seq: int
    end_state: str | None
    dispatched_at: float
    updated_at: float


class ClusterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def dispatched(self, run_id: str, attempt: int) -> ClusterRun:
        """The run's ``attempt`` was dispatched (again, after a restart: nothing changes)."""
        now = time.time()
        await self.db.execute(
            "INSERT INTO cluster_runs (run_id, attempt, phase, dispatched_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
            "attempt = excluded.attempt, phase = CASE WHEN attempt = excluded.attempt "
            "THEN phase ELSE 'dispatched' END, "
            "end_state = CASE WHEN attempt = excluded.attempt THEN end_state ELSE NULL END, "
            "dispatched_at = CASE WHEN attempt = excluded.attempt THEN dispatched_at "
            "ELSE excluded.dispatched_at END, updated_at = excluded.updated_at",
            (run_id, attempt, Phase.DISPATCHED, now, now))
        found = await self.get(run_id)
        assert found is not None
        return found

    async def get(self, run_id: str) -> ClusterRun | None:
        row = await self.db.fetchone("SELECT * FROM cluster_runs WHERE run_id = ?", (run_id,))
        if row is None:
            return None
        return ClusterRun(run_id=row["run_id"], attempt=row["attempt"], phase=Phase(row["phase"]),
                          worker=row["worker"], fence=row["fence"], seq=row["seq"],
                          end_state=row["end_state"], dispatched_at=row["dispatched_at"],
                          updated_at=row["updated_at"])

    async def worker_of(self, run_id: str) -> str | None:
        """The worker executing the run, or that last did; None for a run never dispatched."""
        row = await self.get(run_id)
        return row.worker if row is not None else None

    async def accept(self, run_id: str, worker: str, fence: int, seq: int) -> Verdict:
        """Whether a relay entry is to be applied; when it is, it counts as applied (call it
        in the transaction that applies it)."""
        row = await self.get(run_id)
        if row is None:
            return Verdict.UNKNOWN
        if fence < row.fence or (row.phase is Phase.ENDED and fence == row.fence):
            return Verdict.STALE  # (or its attempt was ended here: cancelled, failed)
        if fence == row.fence and seq <= row.seq:
            return Verdict.DUPLICATE
        phase = Phase.RUNNING if row.phase is Phase.DISPATCHED or fence > row.fence \
            else row.phase
        await self.db.execute(
            "UPDATE cluster_runs SET worker = ?, fence = ?, seq = ?, phase = ?, updated_at = ? "
            "WHERE run_id = ?", (worker, fence, seq, phase, time.time(), run_id))
        return Verdict.APPLY

    async def ended(self, run_id: str, end_state: str) -> None:
        await self.db.execute(
            "UPDATE cluster_runs SET phase = ?, end_state = ?, updated_at = ? WHERE run_id = ?",
            (Phase.ENDED, end_state, time.time(), run_id))

    async def live(self) -> list[ClusterRun]:
        """The runs dispatched or running on a worker."""
        rows = await self.db.fetchall("SELECT run_id FROM cluster_runs WHERE phase != ?",
                                      (Phase.ENDED,))
        found = [await self.get(r["run_id"]) for r in rows]
        return [r for r in found if r is not None]
