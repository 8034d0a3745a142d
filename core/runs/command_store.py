"""Persistence of the commands sent to runs (the ``run_commands`` table; this is its one
writer). What the commands mean and how they travel is :mod:`core.runs.commands`."""

from __future__ import annotations

import json
import time
from typing import Any

import aiosqlite

from core.store.db import Database


def _command(row: aiosqlite.Row) -> dict[str, Any]:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return data


class CommandStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, run_id: str, kind: str, payload: dict[str, Any],
                     actor: str) -> dict[str, Any]:
        now = time.time()
        async with self.db.transaction():
            await self.db.execute(
                "INSERT INTO run_commands (run_id, kind, payload, actor, created_at) "
                "VALUES (?, ?, ?, ?, ?)", (run_id, kind, json.dumps(payload), actor, now))
            row = await self.db.fetchone("SELECT * FROM run_commands WHERE rowid = "
                                         "last_insert_rowid()")
        assert row is not None
        return _command(row)

    async def open_for(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The run's commands not applied yet, oldest first, from ``after`` on."""
        rows = await self.db.fetchall(
            "SELECT * FROM run_commands WHERE run_id = ? AND id > ? AND done_at IS NULL "
            "ORDER BY id", (run_id, after))
        return [_command(r) for r in rows]

    async def runs_sent_to(self, after: int) -> tuple[int, set[str]]:
        """The newest command id, and the runs that got a command after ``after``."""
        rows = await self.db.fetchall(
            "SELECT id, run_id FROM run_commands WHERE id > ? ORDER BY id", (after,))
        if not rows:
            return after, set()
        return int(rows[-1]["id"]), {str(r["run_id"]) for r in rows}

    async def last_id(self) -> int:
        row = await self.db.fetchone("SELECT COALESCE(MAX(id), 0) FROM run_commands")
        return int(row[0]) if row else 0

    async def complete(self, command_id: int) -> bool:
        """Mark a command applied; False when it already was (by this or another reader)."""
        return bool(await self.db.execute(
            "UPDATE run_commands SET done_at = ? WHERE id = ? AND done_at IS NULL",
            (time.time(), command_id)))

    async def complete_open(self, run_id: str) -> int:
        """Mark every command of the run still open as applied; how many there were."""
        return await self.db.execute(
            "UPDATE run_commands SET done_at = ? WHERE run_id = ? AND done_at IS NULL",
            (time.time(), run_id))

    async def is_done(self, command_id: int) -> bool:
        row = await self.db.fetchone("SELECT done_at FROM run_commands WHERE id = ?",
                                     (command_id,))
        return row is not None and row["done_at"] is not None
