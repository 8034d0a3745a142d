"""The append-only activity log: who did what to which target, and how it ended."""

from __future__ import annotations

import time

from pydantic import BaseModel

from core.errors import InvalidInput
from core.store.db import Database


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

    async def recent(self, limit: int = 50, actor: str | None = None,
                     action_prefix: str | None = None) -> list[ActivityEntry]:
        """Newest first, optionally of one actor or of actions starting with a prefix
        ("tool.", "run.", "project.")."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000, not {limit!r}")
        sql = "SELECT at, actor, action, target, outcome, detail FROM activity WHERE 1=1"
        params: list[object] = []
        if actor is not None:
            sql += " AND actor = ?"
            params.append(actor)
        if action_prefix:
            sql += " AND substr(action, 1, ?) = ?"
            params += [len(action_prefix), action_prefix]
        rows = await self.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [ActivityEntry(**dict(r)) for r in rows]
