"""The ``schedules`` table: the only module with its SQL (the table's one writer)."""

from __future__ import annotations

import secrets

import aiosqlite

from core.schedules.types import Overlap, Schedule
from core.store.db import Database
from core.types import ProjectName, RunId


def _schedule(row: aiosqlite.Row) -> Schedule:
    return Schedule(
        id=row["id"], project=ProjectName(row["project"]), prompt=row["prompt"],
        cron=row["cron"], tz=row["tz"], overlap=Overlap(row["overlap"]),
        priority=row["priority"], model=row["model"], paused=bool(row["paused"]),
        created_by=row["created_by"], origin=row["origin"], created_at=row["created_at"],
        next_fire_at=row["next_fire_at"], last_fire_at=row["last_fire_at"],
        last_run_id=RunId(row["last_run_id"]) if row["last_run_id"] else None,
        last_result=row["last_result"], fires=row["fires"])


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def new_id(self) -> str:
        while True:
            schedule_id = secrets.token_hex(3)
            if not await self.db.fetchone("SELECT 1 FROM schedules WHERE id = ?",
                                          (schedule_id,)):
                return schedule_id

    async def insert(self, s: Schedule) -> None:
        await self.db.execute(
            "INSERT INTO schedules (id, project, prompt, cron, tz, overlap, priority, model, "
            "paused, created_by, origin, created_at, next_fire_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (s.id, s.project, s.prompt, s.cron, s.tz, str(s.overlap), s.priority, s.model,
             int(s.paused), s.created_by, s.origin, s.created_at, s.next_fire_at))

    async def get(self, schedule_id: str) -> Schedule | None:
        row = await self.db.fetchone("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        return _schedule(row) if row is not None else None

    async def starting_with(self, prefix: str, limit: int = 6) -> list[Schedule]:
        rows = await self.db.fetchall(
            "SELECT * FROM schedules WHERE substr(id, 1, length(?)) = ? ORDER BY id LIMIT ?",
            (prefix, prefix, limit))
        return [_schedule(r) for r in rows]

    async def all(self, project: str | None = None) -> list[Schedule]:
        where, params = ("WHERE project = ? ", (project,)) if project is not None else ("", ())
        rows = await self.db.fetchall(
            f"SELECT * FROM schedules {where}ORDER BY created_at, id", params)
        return [_schedule(r) for r in rows]

    async def due(self, now: float, limit: int) -> list[Schedule]:
        """Active schedules whose next slot has come, the earliest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM schedules INDEXED BY schedules_due WHERE paused = 0 "
            "AND next_fire_at <= ? ORDER BY next_fire_at, id LIMIT ?", (now, limit))
        return [_schedule(r) for r in rows]

    async def next_due(self) -> float | None:
        """The earliest next slot of an active schedule."""
        row = await self.db.fetchone(
            "SELECT min(next_fire_at) AS at FROM schedules WHERE paused = 0")
        return float(row["at"]) if row is not None and row["at"] is not None else None

    async def fired(self, schedule_id: str, slot: float, next_fire_at: float,
                    run_id: str | None, result: str) -> bool:
        """Record the fire for ``slot`` and the next slot, unless another process recorded
        this slot first (False then)."""
        return await self.db.execute(
            "UPDATE schedules SET next_fire_at = ?, last_fire_at = ?, "
            "last_run_id = coalesce(?, last_run_id), last_result = ?, fires = fires + 1 "
            "WHERE id = ? AND next_fire_at = ? AND paused = 0",
            (next_fire_at, slot, run_id, result[:500], schedule_id, slot)) == 1

    async def set_paused(self, schedule_id: str, paused: bool,
                         next_fire_at: float | None) -> None:
        await self.db.execute(
            "UPDATE schedules SET paused = ?, next_fire_at = ? WHERE id = ?",
            (int(paused), next_fire_at, schedule_id))

    async def delete(self, schedule_id: str) -> None:
        await self.db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
