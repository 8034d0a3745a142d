"""The ``gate_results`` and ``gate_rounds`` tables: the only module with their SQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiosqlite

from core.gates.types import Gate, GateResult, Outcome
from core.store.db import Database


@dataclass
class Round:
    """A run's place in its gates (see :class:`core.gates.service.Gates`)."""

    run_id: str
    asking: bool = False
    fixes: dict[str, int] = field(default_factory=dict)
    extra: int = 0
    said: list[str] = field(default_factory=list)


def _result(row: aiosqlite.Row) -> GateResult:
    return GateResult(id=row["id"], run_id=row["run_id"], gate=Gate(row["gate"]),
                      attempt=row["attempt"], outcome=Outcome(row["outcome"]),
                      command=row["command"], output=row["output"], seconds=row["seconds"],
                      at=row["at"])


class GateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.db.transaction():
            yield

    async def add_result(self, *, run_id: str, gate: Gate, attempt: int, outcome: Outcome,
                         command: str, output: str, seconds: float, at: float) -> None:
        passed = outcome in (Outcome.PASSED, Outcome.FIXED)
        await self.db.execute(
            "INSERT INTO gate_results (run_id, gate, attempt, passed, outcome, command, output, "
            "seconds, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, str(gate), attempt, int(passed), str(outcome), command, output, seconds,
             at))

    async def results(self, run_id: str) -> list[GateResult]:
        """Every gate result of the run, oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM gate_results WHERE run_id = ? ORDER BY id", (run_id,))
        return [_result(r) for r in rows]

    async def round(self, run_id: str) -> Round:
        row = await self.db.fetchone("SELECT * FROM gate_rounds WHERE run_id = ?", (run_id,))
        if row is None:
            return Round(run_id)
        return Round(run_id, asking=bool(row["asking"]), fixes=json.loads(row["fixes"]),
                     extra=row["extra"], said=json.loads(row["said"]))

    async def save_round(self, state: Round, at: float) -> None:
        await self.db.execute(
            "INSERT INTO gate_rounds (run_id, asking, fixes, extra, said, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET asking = "
            "excluded.asking, fixes = excluded.fixes, extra = excluded.extra, said = "
            "excluded.said, updated_at = excluded.updated_at",
            (state.run_id, int(state.asking), json.dumps(state.fixes), state.extra,
             json.dumps(state.said), at))
