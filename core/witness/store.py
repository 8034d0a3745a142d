"""The witness's tables (``witness_runs``, ``witness_changes``): the only module with its SQL."""

from __future__ import annotations

from core.store.db import Database
from core.witness.types import Change, Classification, RunHealth


class WitnessStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, run_id: str) -> RunHealth | None:
        row = await self.db.fetchone("SELECT * FROM witness_runs WHERE run_id = ?", (run_id,))
        if row is None:
            return None
        return RunHealth(run_id, Classification(row["classification"]), row["reason"],
                         row["since"], bool(row["silenced"]))

    async def current(self, run_ids: list[str]) -> dict[str, RunHealth]:
        if not run_ids:
            return {}
        marks = ", ".join("?" * len(run_ids))
        rows = await self.db.fetchall(
            f"SELECT * FROM witness_runs WHERE run_id IN ({marks})", tuple(run_ids))
        return {r["run_id"]: RunHealth(r["run_id"], Classification(r["classification"]),
                                       r["reason"], r["since"], bool(r["silenced"]))
                for r in rows}

    async def change(self, run_id: str, classification: Classification, reason: str,
                     at: float) -> None:
        """Record that ``run_id`` is now ``classification`` (its history keeps the change)."""
        async with self.db.transaction():
            await self.db.execute(
                "INSERT INTO witness_runs (run_id, classification, reason, since) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                "classification = excluded.classification, reason = excluded.reason, "
                "since = excluded.since", (run_id, str(classification), reason, at))
            await self.db.execute(
                "INSERT INTO witness_changes (run_id, classification, reason, at) "
                "VALUES (?, ?, ?, ?)", (run_id, str(classification), reason, at))

    async def acted(self, run_id: str, action: str) -> None:
        """The policy's action on the run's latest change."""
        await self.db.execute(
            "UPDATE witness_changes SET action = ? WHERE id = (SELECT MAX(id) FROM "
            "witness_changes WHERE run_id = ?)", (action, run_id))

    async def unacted(self, run_ids: list[str]) -> set[str]:
        """Those of ``run_ids`` whose latest change was recorded but not acted on (Gluon
        stopped in between): it is still to be said."""
        if not run_ids:
            return set()
        marks = ", ".join("?" * len(run_ids))
        rows = await self.db.fetchall(
            f"SELECT run_id FROM witness_changes WHERE id IN (SELECT MAX(id) FROM "
            f"witness_changes WHERE run_id IN ({marks}) GROUP BY run_id) AND action IS NULL "
            "AND classification != 'healthy'", tuple(run_ids))
        return {r["run_id"] for r in rows}

    async def silence(self, run_id: str, silenced: bool, at: float) -> None:
        await self.db.execute(
            "INSERT INTO witness_runs (run_id, classification, reason, since, silenced) "
            "VALUES (?, 'healthy', 'not classified yet', ?, ?) ON CONFLICT (run_id) DO UPDATE "
            "SET silenced = excluded.silenced", (run_id, at, int(silenced)))

    async def history(self, run_id: str, limit: int = 50) -> list[Change]:
        rows = await self.db.fetchall(
            "SELECT classification, reason, at FROM witness_changes WHERE run_id = ? "
            "ORDER BY id DESC LIMIT ?", (run_id, limit))
        return [Change(Classification(r["classification"]), r["reason"], r["at"])
                for r in reversed(rows)]
