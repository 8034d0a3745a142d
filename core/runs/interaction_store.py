"""Persistence of permission requests and agent questions: the one writer of ``interactions``.

A row is the request and, once answered, the record of its answer. The durable event of each
request and answer is appended by :class:`~core.runs.interactions.Interactions` inside this
store's :meth:`InteractionStore.transaction`, so the record and its event commit together.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite

from core.events.store import EventStore
from core.models import Interaction
from core.store.db import Database
from core.types import InteractionKind, InteractionStatus

_PENDING = str(InteractionStatus.PENDING)


def _row(row: aiosqlite.Row) -> Interaction:
    data = dict(row)
    data["tool_input"] = json.loads(data["tool_input"])
    data["answer"] = json.loads(data["answer"]) if data["answer"] is not None else None
    data.pop("reminded_at", None)
    return Interaction(**data)


class InteractionStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.event_store = EventStore(db)  # where the request's and answer's events go

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A change and the events that record it: all of it or none of it."""
        return self.db.transaction()

    async def insert(self, interaction_id: str, run_id: str, kind: InteractionKind,
                     tool_name: str, tool_input: dict[str, Any], title: str,
                     at: float) -> None:
        await self.db.execute(
            "INSERT INTO interactions (id, run_id, kind, tool_name, tool_input, title, "
            "status, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (interaction_id, run_id, kind, tool_name, json.dumps(tool_input), title,
             _PENDING, at))

    async def by_prefix(self, prefix: str, limit: int = 5) -> list[Interaction]:
        """The newest requests whose id starts with ``prefix``."""
        rows = await self.db.fetchall(
            "SELECT * FROM interactions WHERE id LIKE ? ORDER BY created_at DESC LIMIT ?",
            (prefix + "%", limit))
        return [_row(r) for r in rows]

    async def exists(self, interaction_id: str) -> bool:
        return await self.db.fetchone("SELECT 1 FROM interactions WHERE id = ?",
                                      (interaction_id,)) is not None

    async def open_ids(self, limit: int = 200) -> list[str]:
        """Ids of the newest requests still waiting for an answer."""
        rows = await self.db.fetchall(
            "SELECT id FROM interactions WHERE status = ? ORDER BY created_at DESC LIMIT ?",
            (_PENDING, limit))
        return [r["id"] for r in rows]

    async def pending(self, run_id: str | None = None) -> list[Interaction]:
        sql = "SELECT * FROM interactions WHERE status = ?"
        params = [_PENDING]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        return [_row(r) for r in await self.db.fetchall(sql + " ORDER BY created_at", params)]

    async def mark_answered(self, interaction_id: str, answer: Any, actor: str,
                            at: float) -> bool:
        """Record the answer of a pending request; False when it is no longer pending."""
        changed = await self.db.execute(
            "UPDATE interactions SET status = ?, answer = ?, answered_by = ?, "
            "answered_at = ? WHERE id = ? AND status = ?",
            (InteractionStatus.ANSWERED, json.dumps(answer), actor, at, interaction_id,
             _PENDING))
        return bool(changed)

    async def project_of(self, run_id: str) -> str:
        """The project of the run a request came from ("" when the run is gone)."""
        row = await self.db.fetchone("SELECT project FROM runs WHERE id = ?", (run_id,))
        return str(row["project"]) if row else ""

    async def expire_for_run(self, run_id: str) -> None:
        await self.db.execute(
            "UPDATE interactions SET status = ? WHERE run_id = ? AND status = ?",
            (InteractionStatus.EXPIRED, run_id, _PENDING))

    async def due_reminders(self, cutoff: float, now: float) -> list[Interaction]:
        """Pending requests neither answered nor reminded about since ``cutoff``; each is
        marked reminded at ``now``."""
        async with self.db.transaction():
            rows = await self.db.fetchall(
                "SELECT * FROM interactions WHERE status = ? AND "
                "COALESCE(reminded_at, created_at) < ?", (_PENDING, cutoff))
            for r in rows:
                await self.db.execute("UPDATE interactions SET reminded_at = ? WHERE id = ?",
                                      (now, r["id"]))
        return [_row(r) for r in rows]
