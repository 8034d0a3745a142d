"""The ``formula_runs`` table: the only module with its SQL (the table's one writer)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiosqlite

from core.formulas.model import Formula
from core.formulas.types import FormulaRun
from core.store.db import Database


def _state(row: aiosqlite.Row) -> FormulaRun:
    return FormulaRun(run_id=row["run_id"],
                      formula=Formula.model_validate_json(row["definition"]),
                      source=row["source"], vars=json.loads(row["vars"]), model=row["model"],
                      step=row["step"], results=json.loads(row["results"]))


class FormulaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.db.transaction():
            yield

    async def insert(self, state: FormulaRun, created_by: str) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT INTO formula_runs (run_id, formula, definition, source, vars, model, step, "
            "results, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (state.run_id, state.formula.name, state.formula.model_dump_json(), state.source,
             json.dumps(state.vars), state.model, state.step, json.dumps(state.results),
             created_by, now, now))

    async def get(self, run_id: str) -> FormulaRun | None:
        row = await self.db.fetchone("SELECT * FROM formula_runs WHERE run_id = ?", (run_id,))
        return _state(row) if row is not None else None

    async def of_runs(self, run_ids: Sequence[str]) -> list[FormulaRun]:
        if not run_ids:
            return []
        marks = ", ".join("?" * len(run_ids))
        rows = await self.db.fetchall(
            f"SELECT * FROM formula_runs WHERE run_id IN ({marks})", run_ids)
        return [_state(r) for r in rows]

    async def advance(self, run_id: str, from_step: int, results: list[str]) -> bool:
        """Record the end of step ``from_step`` with ``results``; False when another turn end
        recorded it first."""
        changed = await self.db.execute(
            "UPDATE formula_runs SET step = ?, results = ?, updated_at = ? "
            "WHERE run_id = ? AND step = ?",
            (from_step + 1, json.dumps(results), time.time(), run_id, from_step))
        return changed == 1
