"""The ``merge_entries`` and ``merge_transitions`` tables: the only module with their SQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from core.merges.states import ENDED, MergeState
from core.merges.types import MergeEntry
from core.store.db import Database

_OPEN = "state NOT IN ({})".format(", ".join(f"'{s}'" for s in sorted(ENDED)))
FIELDS = frozenset({"reason", "ended_at", "conflict_fixes", "check_fixes", "rebases", "files",
                    "expected_head", "head", "onto", "pushed", "pull_request", "pull_request_url",
                    "merged_commit", "cleaned"})


def _entry(row: aiosqlite.Row, position: int) -> MergeEntry:
    return MergeEntry(
        id=row["id"], run_id=row["run_id"], project=row["project"], base=row["base"],
        branch=row["branch"], state=MergeState(row["state"]), reason=row["reason"],
        position=position, created_by=row["created_by"], created_at=row["created_at"],
        updated_at=row["updated_at"], ended_at=row["ended_at"],
        conflict_fixes=row["conflict_fixes"], check_fixes=row["check_fixes"],
        rebases=row["rebases"], files=json.loads(row["files"]), head=row["head"],
        onto=row["onto"], pull_request=row["pull_request"],
        pull_request_url=row["pull_request_url"], merged_commit=row["merged_commit"],
        cleaned=bool(row["cleaned"]))


# An open entry's place in its line: 1 + the open entries before it on the same base.
_SELECT = (f"SELECT e.*, CASE WHEN e.{_OPEN} THEN 1 + (SELECT count(*) FROM merge_entries o "
           f"WHERE o.project = e.project AND o.base = e.base AND o.{_OPEN} AND o.seq < e.seq) "
           "ELSE 0 END AS position FROM merge_entries e")


class MergeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.db.transaction():
            yield

    async def insert(self, *, run_id: str, project: str, base: str, branch: str,
                     created_by: str, reason: str, expected_head: str, at: float) -> str:
        entry_id = secrets.token_hex(4)
        await self.db.execute(
            "INSERT INTO merge_entries (id, seq, run_id, project, base, branch, state, reason, "
            "created_by, created_at, updated_at, expected_head) VALUES (?, (SELECT "
            "coalesce(max(seq), 0) + 1 FROM merge_entries), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, run_id, project, base, branch, str(MergeState.WAITING), reason,
             created_by, at, at, expected_head))
        await self.db.execute(
            "INSERT INTO merge_transitions (entry_id, old_state, new_state, reason, at) "
            "VALUES (?, NULL, ?, ?, ?)", (entry_id, str(MergeState.WAITING), reason, at))
        return entry_id

    async def get(self, entry_id: str) -> MergeEntry | None:
        row = await self.db.fetchone(f"{_SELECT} WHERE e.id = ?", (entry_id,))
        return _entry(row, row["position"]) if row is not None else None

    async def by_prefix(self, prefix: str, limit: int = 6) -> list[MergeEntry]:
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE substr(e.id, 1, length(?)) = ? ORDER BY e.seq LIMIT ?",
            (prefix, prefix, limit))
        return [_entry(r, r["position"]) for r in rows]

    async def open_of_run(self, run_id: str) -> MergeEntry | None:
        row = await self.db.fetchone(f"{_SELECT} WHERE e.run_id = ? AND e.{_OPEN}", (run_id,))
        return _entry(row, row["position"]) if row is not None else None

    async def latest_of_run(self, run_id: str) -> MergeEntry | None:
        row = await self.db.fetchone(
            f"{_SELECT} WHERE e.run_id = ? ORDER BY e.seq DESC LIMIT 1", (run_id,))
        return _entry(row, row["position"]) if row is not None else None

    async def expected_head(self, entry_id: str) -> str | None:
        row = await self.db.fetchone("SELECT expected_head FROM merge_entries WHERE id = ?",
                                     (entry_id,))
        return row["expected_head"] if row is not None else None

    async def pushed(self, entry_id: str) -> str | None:
        row = await self.db.fetchone("SELECT pushed FROM merge_entries WHERE id = ?",
                                     (entry_id,))
        return row["pushed"] if row is not None else None

    async def requeue(self, entry_id: str) -> None:
        """Move the entry to the end of the line."""
        await self.db.execute(
            "UPDATE merge_entries SET seq = (SELECT max(seq) + 1 FROM merge_entries) "
            "WHERE id = ?", (entry_id,))

    async def find(self, *, project: str | None = None, open_only: bool = False,
                   limit: int = 200) -> list[MergeEntry]:
        """Open entries in line order, then (unless ``open_only``) the ended ones, the most
        recent first."""
        where, params = [], []
        if project is not None:
            where.append("e.project = ?")
            params.append(project)
        if open_only:
            where.append(f"e.{_OPEN}")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"{_SELECT}{clause} ORDER BY (e.ended_at IS NOT NULL), "
            "CASE WHEN e.ended_at IS NULL THEN e.seq ELSE -e.ended_at END LIMIT ?",
            (*params, limit))
        return [_entry(r, r["position"]) for r in rows]

    async def heads(self) -> list[MergeEntry]:
        """The first open entry of every line (project and base branch)."""
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE e.{_OPEN} AND e.seq = (SELECT min(o.seq) FROM merge_entries o "
            f"WHERE o.project = e.project AND o.base = e.base AND o.{_OPEN}) ORDER BY e.seq")
        return [_entry(r, r["position"]) for r in rows]

    async def uncleaned(self) -> list[MergeEntry]:
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE e.state = 'merged' AND e.cleaned = 0 ORDER BY e.seq")
        return [_entry(r, r["position"]) for r in rows]

    async def set_state(self, entry_id: str, old: MergeState, new: MergeState, reason: str,
                        at: float, **fields: Any) -> bool:
        """Move the entry from ``old`` to ``new`` (False when it is no longer in ``old``),
        with the other ``fields`` and a recorded transition."""
        sets, params = self._sets(fields)
        changed = await self.db.execute(
            f"UPDATE merge_entries SET state = ?, reason = ?, updated_at = ?{sets} "
            "WHERE id = ? AND state = ?",
            (str(new), reason, at, *params, entry_id, str(old)))
        if changed:
            await self.db.execute(
                "INSERT INTO merge_transitions (entry_id, old_state, new_state, reason, at) "
                "VALUES (?, ?, ?, ?, ?)", (entry_id, str(old), str(new), reason, at))
        return changed > 0

    async def update(self, entry_id: str, **fields: Any) -> None:
        sets, params = self._sets(fields)
        if sets:
            await self.db.execute(f"UPDATE merge_entries SET {sets.removeprefix(', ')} "
                                  "WHERE id = ?", (*params, entry_id))

    @staticmethod
    def _sets(fields: dict[str, Any]) -> tuple[str, Sequence[Any]]:
        unknown = set(fields) - FIELDS
        assert not unknown, f"not merge entry fields: {unknown}"
        params = [json.dumps(v) if k == "files" else int(v) if isinstance(v, bool) else v
                  for k, v in fields.items()]
        return "".join(f", {k} = ?" for k in fields), params

    async def transitions(self, entry_id: str) -> list[tuple[str | None, str, str, float]]:
        rows = await self.db.fetchall(
            "SELECT old_state, new_state, reason, at FROM merge_transitions "
            "WHERE entry_id = ? ORDER BY id", (entry_id,))
        return [(r["old_state"], r["new_state"], r["reason"], r["at"]) for r in rows]
