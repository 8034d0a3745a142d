"""Persistence of webhook deliveries: the one writer of ``hook_deliveries``.

A delivery is recorded when it is received, before it is answered, with its body; the body is
dropped once the delivery has been worked on. ``(source, delivery_id)`` is unique, so the same
delivery received twice (GitHub's redelivery keeps its GUID) is recorded once and counted as a
replay.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum

import aiosqlite
from pydantic import BaseModel, Field

from core.store.db import Database


class DeliveryState(StrEnum):
    QUEUED = "queued"  # received, to be worked on
    REFUSED = "refused"  # not taken (an unknown repository or project, a bad body): nothing
    # was queued, and the same delivery sent again is taken afresh
    DONE = "done"  # it started, steered or resumed a run, or answered on GitHub
    IGNORED = "ignored"  # nothing to do (an event Gluon does not act on, an unknown repo)
    FAILED = "failed"  # working on it failed; outcome says why


class Delivery(BaseModel):
    seq: int = Field(description="the order deliveries were received and are worked through")
    source: str = Field(description="'github' or the name of a generic hook")
    delivery_id: str
    event: str = Field(description="GitHub's event (issue_comment, check_run, ...); '' for "
                       "a generic hook")
    action: str
    repo: str | None = Field(description="owner/name on GitHub")
    project: str | None
    state: DeliveryState
    outcome: str = Field(description="what Gluon did with it, in one line")
    run_id: str | None = Field(description="the run it started, steered or resumed")
    replays: int = Field(description="how many times it was received again and ignored")
    received_at: float
    processed_at: float | None


@dataclass(frozen=True)
class Received:
    """A delivery as stored, and whether it had been received before (a replay)."""

    delivery: Delivery
    replay: bool


@dataclass(frozen=True)
class Incoming:
    source: str
    delivery_id: str
    body_hash: str
    payload: str | None
    event: str = ""
    action: str = ""
    repo: str | None = None
    project: str | None = None
    state: DeliveryState = DeliveryState.QUEUED
    outcome: str = ""


_COLUMNS = ("seq, source, delivery_id, event, action, repo, project, state, outcome, run_id, "
            "replays, received_at, processed_at")


def _delivery(row: aiosqlite.Row) -> Delivery:
    data = dict(zip(row.keys(), tuple(row), strict=True))
    data.pop("payload", None)
    return Delivery(**data)


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A change of a delivery and what goes with it (logged events): all or nothing."""
        return self.db.transaction()

    async def receive(self, incoming: Incoming, *, same_body_since: float | None = None,
                      now: float | None = None) -> Received:
        """Record a delivery, or count a replay of one recorded before: the same delivery id
        from the same source, or (``same_body_since``) the same body since then."""
        now = time.time() if now is None else now
        async with self.db.transaction():
            row = await self.db.fetchone(
                f"SELECT {_COLUMNS} FROM hook_deliveries WHERE source = ? AND delivery_id = ?",
                (incoming.source, incoming.delivery_id))
            if row is None and same_body_since is not None:
                row = await self.db.fetchone(
                    f"SELECT {_COLUMNS} FROM hook_deliveries WHERE source = ? AND body_hash = ? "
                    "AND received_at >= ? ORDER BY seq DESC LIMIT 1",
                    (incoming.source, incoming.body_hash, same_body_since))
            if row is not None and row["state"] == DeliveryState.REFUSED:
                await self.db.execute("DELETE FROM hook_deliveries WHERE seq = ?",
                                      (row["seq"],))
                row = None
            if row is not None:
                await self.db.execute("UPDATE hook_deliveries SET replays = replays + 1 "
                                      "WHERE seq = ?", (row["seq"],))
                return Received(_delivery(row), replay=True)
            done = incoming.state is not DeliveryState.QUEUED
            await self.db.execute(
                "INSERT INTO hook_deliveries (source, delivery_id, event, action, repo, project, "
                "body_hash, payload, state, outcome, received_at, processed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incoming.source, incoming.delivery_id, incoming.event, incoming.action,
                 incoming.repo, incoming.project, incoming.body_hash,
                 None if done else incoming.payload, incoming.state, incoming.outcome, now,
                 now if done else None))
            row = await self.db.fetchone(
                f"SELECT {_COLUMNS} FROM hook_deliveries WHERE seq = last_insert_rowid()")
        assert row is not None
        return Received(_delivery(row), replay=False)

    async def queued(self, after: int = 0, limit: int = 100) -> list[tuple[Delivery, str]]:
        """Deliveries still to be worked on, in the order received, with their bodies."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS}, payload FROM hook_deliveries WHERE state = ? AND seq > ? "
            "ORDER BY seq LIMIT ?", (DeliveryState.QUEUED, after, limit))
        return [(_delivery(r), r["payload"] or "{}") for r in rows]

    async def finish(self, seq: int, state: DeliveryState, outcome: str,
                     run_id: str | None = None) -> None:
        """Record what was done with a delivery, and drop its body (inside the caller's
        transaction, when there is one)."""
        await self.db.execute(
            "UPDATE hook_deliveries SET state = ?, outcome = ?, run_id = COALESCE(?, run_id), "
            "payload = NULL, processed_at = ? WHERE seq = ?",
            (state, outcome[:1000], run_id, time.time(), seq))

    async def get(self, seq: int) -> Delivery | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM hook_deliveries WHERE seq = ?",
                                     (seq,))
        return _delivery(row) if row else None

    async def recent(self, *, source: str | None = None, state: DeliveryState | None = None,
                   run_id: str | None = None, limit: int = 50) -> list[Delivery]:
        """Deliveries, newest first."""
        where, params = [], []
        for column, value in (("source", source), ("state", state), ("run_id", run_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(str(value))
        sql = f"SELECT {_COLUMNS} FROM hook_deliveries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.db.fetchall(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [_delivery(r) for r in rows]

    async def prune(self, before: float) -> int:
        """Forget deliveries worked on before ``before``."""
        return await self.db.execute(
            "DELETE FROM hook_deliveries WHERE state != ? AND received_at < ?",
            (DeliveryState.QUEUED, before))
