"""The append-only activity log: who did what to which target, and how it ended."""

from __future__ import annotations

import time

from pydantic import BaseModel

from core.db import Database


class ActivityEntry(BaseModel):
    at: float
    actor: str
    action: str
    target: str
    outcome: str
    detail: str


class ActivityLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, actor: str, action: str, target: str, outcome: str,
                     detail: str = "") -> None:
        await self.db.execute(
            "INSERT INTO activity (at, actor, action, target, outcome, detail) "
            "VALUES (?,?,?,?,?,?)", (time.time(), actor, action, target, outcome, detail))

    async def recent(self, limit: int = 50) -> list[ActivityEntry]:
        rows = await self.db.fetchall(
            "SELECT at, actor, action, target, outcome, detail FROM activity "
            "ORDER BY id DESC LIMIT ?", (limit,))
        return [ActivityEntry(**dict(r)) for r in rows]
