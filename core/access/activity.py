"""The append-only activity log: who did what to which target, and how it ended."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel

from core.access.store import AccessStore
from core.errors import InvalidInput


class ActivityEntry(BaseModel):
    at: float
    actor: str
    action: str
    target: str
    outcome: str
    detail: str


class ActivityLog:
    def __init__(self, store: AccessStore) -> None:
        self.store = store

    async def record(self, actor: str, action: str, target: str, outcome: str,
                     detail: str = "") -> None:
        await self.store.record(actor, action, target, outcome, detail)

    async def recent(self, limit: int = 50, actor: str | None = None,
                     action_prefix: str | None = None) -> list[ActivityEntry]:
        """Newest first, optionally of one actor or of actions starting with a prefix
        ("tool.", "run.", "project.")."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000, not {limit!r}")
        rows = await self.store.activity(limit, actor, action_prefix)
        return [ActivityEntry(**dataclasses.asdict(r)) for r in rows]
