"""Persistence of spend and of runtime settings.

The only writer of ``usage`` (one row per billed turn of a run, by UTC day), ``voice_usage``
(one row per voice note transcribed) and ``settings`` (JSON values that override the
configuration). Reads ``runs`` for the count of runs by state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from pydantic import JsonValue

from core.store.db import Database


@dataclass(frozen=True)
class Spend:
    """Runs, cost and tokens of a group of usage rows (a project, a day)."""

    key: str
    runs: int
    cost_usd: float
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class VoiceSpend:
    """Voice notes transcribed on a day: how many, how long, what they cost."""

    day: str
    notes: int
    seconds: float
    cost_usd: float


_SPEND = ("COUNT(DISTINCT run_id) AS runs, SUM(cost_usd) AS cost, SUM(input_tokens) AS inp, "
          "SUM(output_tokens) AS outp")


class BudgetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- usage --------------------------------------------------------------------------------

    async def record(self, run_id: str, project: str, day: str, cost_usd: float,
                     input_tokens: int, output_tokens: int) -> None:
        await self.db.execute(
            "INSERT INTO usage (run_id, project, day, cost_usd, input_tokens, output_tokens, at) "
            "VALUES (?,?,?,?,?,?,?)",
            (run_id, project, day, cost_usd, input_tokens, output_tokens, time.time()))

    async def spent(self, day: str, project: str | None = None) -> float:
        sql, params = "SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE day = ?", [day]
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        row = await self.db.fetchone(sql, params)
        return float(row[0]) if row else 0.0

    async def by_project(self, day: str) -> list[Spend]:
        """The day's spend of each project, the most expensive first."""
        rows = await self.db.fetchall(
            f"SELECT project AS key, {_SPEND} FROM usage WHERE day = ? GROUP BY project "
            "ORDER BY cost DESC", (day,))
        return [Spend(r["key"], r["runs"], r["cost"], r["inp"], r["outp"]) for r in rows]

    async def by_day(self, days: int, project: str | None = None,
                     since: str | None = None) -> list[Spend]:
        """Spend per day, newest first: the latest ``days`` days that have any, of every
        project or of one, from ``since`` on."""
        sql, params = f"SELECT day AS key, {_SPEND} FROM usage WHERE 1=1", []
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        if since is not None:
            sql += " AND day >= ?"
            params.append(since)
        rows = await self.db.fetchall(sql + " GROUP BY day ORDER BY day DESC LIMIT ?",
                                      (*params, days))
        return [Spend(r["key"], r["runs"], r["cost"], r["inp"], r["outp"]) for r in rows]

    # -- voice notes ----------------------------------------------------------------------------

    async def record_voice(self, actor: str, backend: str, day: str, seconds: float,
                           cost_usd: float) -> None:
        await self.db.execute(
            "INSERT INTO voice_usage (actor, backend, day, seconds, cost_usd, at) "
            "VALUES (?,?,?,?,?,?)", (actor, backend, day, seconds, cost_usd, time.time()))

    async def voice_notes_since(self, actor: str, since: float) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM voice_usage WHERE actor = ? AND at >= ?", (actor, since))
        return int(row[0]) if row else 0

    async def voice_by_day(self, since: str) -> list[VoiceSpend]:
        """Voice notes transcribed per day from ``since`` on, newest first (days with any)."""
        rows = await self.db.fetchall(
            "SELECT day, COUNT(*) AS notes, SUM(seconds) AS seconds, SUM(cost_usd) AS cost "
            "FROM voice_usage WHERE day >= ? GROUP BY day ORDER BY day DESC", (since,))
        return [VoiceSpend(r["day"], r["notes"], r["seconds"], r["cost"]) for r in rows]

    async def runs_by_state(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    # -- settings -----------------------------------------------------------------------------

    async def setting(self, key: str) -> JsonValue | None:
        row = await self.db.fetchone("SELECT value FROM settings WHERE key = ?", (key,))
        if row is None:
            return None
        value: JsonValue = json.loads(row["value"])
        return value

    async def set_setting(self, key: str, value: JsonValue | None) -> None:
        """Store a value; None removes the key."""
        if value is None:
            await self.db.execute("DELETE FROM settings WHERE key = ?", (key,))
            return
        await self.db.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at", (key, json.dumps(value), time.time()))

    async def settings(self) -> dict[str, JsonValue]:
        rows = await self.db.fetchall("SELECT key, value FROM settings ORDER BY key")
        return {r["key"]: json.loads(r["value"]) for r in rows}
