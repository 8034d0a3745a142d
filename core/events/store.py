"""Persistence of the event log and of its consumers' cursors (the only writer of both tables).

``event_log.seq`` is an AUTOINCREMENT key: SQLite never hands out a number twice, not even
after the newest rows were pruned, so a consumer's cursor can never point past an event that is
yet to come.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.store.db import Database


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    kind: str
    run_id: str
    project: str
    data: str  # the event's fields as JSON
    at: float


class EventStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, kind: str, run_id: str, project: str, data: str, at: float) -> int:
        """Add one event; the caller holds the transaction of the change it records."""
        await self.db.execute(
            "INSERT INTO event_log (kind, run_id, project, data, at) VALUES (?, ?, ?, ?, ?)",
            (kind, run_id, project, data, at))
        row = await self.db.fetchone("SELECT last_insert_rowid()")
        assert row is not None
        return int(row[0])

    async def last_seq(self) -> int:
        """The newest event's seq (0 for an empty log; pruning never lowers it)."""
        row = await self.db.fetchone("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'")
        return int(row[0]) if row else 0

    async def after(self, seq: int, limit: int, upto: int, kinds: Sequence[str] | None,
                    run_id: str | None, newest: bool = False) -> list[StoredEvent]:
        """Events with ``seq < number <= upto``, oldest first, at most ``limit``: the first
        ones, or with ``newest`` the last ones."""
        where = ["seq > ?", "seq <= ?"]
        params: list[int | str] = [seq, upto]
        if kinds is not None:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params += list(kinds)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        rows = await self.db.fetchall(
            "SELECT seq, kind, run_id, project, data, at FROM event_log WHERE "
            f"{' AND '.join(where)} ORDER BY seq {'DESC' if newest else ''} LIMIT ?",
            (*params, limit))
        found = [StoredEvent(r["seq"], r["kind"], r["run_id"], r["project"], r["data"],
                             r["at"]) for r in rows]
        return found[::-1] if newest else found

    async def cursor(self, consumer: str) -> int | None:
        row = await self.db.fetchone("SELECT seq FROM event_cursors WHERE consumer = ?",
                                     (consumer,))
        return int(row["seq"]) if row else None

    async def set_cursor(self, consumer: str, seq: int) -> None:
        """Move a consumer's cursor to ``seq`` (never backwards)."""
        await self.db.execute(
            "INSERT INTO event_cursors (consumer, seq, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (consumer) DO UPDATE SET seq = MAX(seq, excluded.seq), "
            "updated_at = excluded.updated_at", (consumer, seq, time.time()))

    async def prune(self, before: float, forget_consumers_before: float) -> int:
        """Delete events older than ``before`` that every consumer has handled; first forget
        consumers whose cursor has not moved since ``forget_consumers_before``. Returns the
        number of events deleted."""
        async with self.db.transaction():
            await self.db.execute("DELETE FROM event_cursors WHERE updated_at < ?",
                                  (forget_consumers_before,))
            row = await self.db.fetchone("SELECT MIN(seq) FROM event_cursors")
            slowest = row[0] if row and row[0] is not None else None
            row = await self.db.fetchone(
                "SELECT seq FROM event_log WHERE at >= ? ORDER BY seq LIMIT 1", (before,))
            upto = (row[0] - 1) if row else await self.last_seq()
            if slowest is not None:
                upto = min(upto, slowest)
            return await self.db.execute("DELETE FROM event_log WHERE seq <= ?", (upto,))
