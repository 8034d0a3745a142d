"""The ``loops`` table: the only module with its SQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from core.loops.types import BreakerState, Loop, LoopState
from core.store.db import Database

FIELDS = frozenset({"iteration", "state", "breaker", "no_progress", "last_head",
                    "last_fingerprint", "last_error", "cost_warned", "turn_times",
                    "stopped_reason"})


def _loop(row: aiosqlite.Row) -> Loop:
    return Loop(
        run_id=row["run_id"], max_loops=row["max_loops"], max_cost_usd=row["max_cost_usd"],
        max_calls_per_hour=row["max_calls_per_hour"], iteration=row["iteration"],
        state=LoopState(row["state"]), breaker=BreakerState(row["breaker"]),
        no_progress=row["no_progress"], last_head=row["last_head"],
        last_fingerprint=row["last_fingerprint"], last_error=row["last_error"],
        spend_at_start=row["spend_at_start"], cost_warned=bool(row["cost_warned"]),
        turn_times=[float(t) for t in json.loads(row["turn_times"])],
        stopped_reason=row["stopped_reason"], created_by=row["created_by"],
        created_at=row["created_at"], updated_at=row["updated_at"])


class LoopStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.db.transaction():
            yield

    async def insert(self, *, run_id: str, max_loops: int, max_cost_usd: float | None,
                     max_calls_per_hour: int | None, spend_at_start: float,
                     created_by: str, at: float) -> None:
        await self.db.execute(
            "INSERT INTO loops (run_id, max_loops, max_cost_usd, max_calls_per_hour, state, "
            "breaker, spend_at_start, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, max_loops, max_cost_usd, max_calls_per_hour, str(LoopState.ACTIVE),
             str(BreakerState.CLOSED), spend_at_start, created_by, at, at))

    async def get(self, run_id: str) -> Loop | None:
        row = await self.db.fetchone("SELECT * FROM loops WHERE run_id = ?", (run_id,))
        return _loop(row) if row is not None else None

    async def update(self, run_id: str, at: float, **fields: Any) -> None:
        assert fields and set(fields) <= FIELDS, fields
        values = {k: json.dumps(v) if k == "turn_times" else
                  str(v) if k in ("state", "breaker") else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        await self.db.execute(f"UPDATE loops SET {sets}, updated_at = ? WHERE run_id = ?",
                              (*values.values(), at, run_id))
