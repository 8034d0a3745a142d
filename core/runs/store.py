"""Persistence of runs: rows, state transitions (each with a reason) and the event summary.

The one writer of ``runs``, ``run_transitions`` and ``run_events``: a field becomes a column
name only when it is in ``COLUMNS``; forgetting or moving a project reaches its runs here.
"""

from __future__ import annotations

import difflib
import json
import secrets
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite
from pydantic import BaseModel

from core.errors import Ambiguous, Conflict, NotFound
from core.events.bus import EventBus, RunStateChanged
from core.events.log import EventLog
from core.events.store import EventStore
from core.models import CommitInfo, FileChange, Run, Transition
from core.store.db import Database
from core.types import TRANSITIONS, RunState

_JSON_LIST = ("commits", "changed_files")
# The columns of ``runs`` a caller may set; field names become column names only from here.
COLUMNS = frozenset({
    "id", "project", "prompt", "model", "state", "state_reason", "use_worktree", "cwd",
    "branch", "base_branch", "base_sha", "session_id", "session_started", "fork_from",
    "pending_prompt", "queued_at", "parent_id", "budget_usd", "created_by", "created_at",
    "started_at", "ended_at", "last_activity_at", "turns", "tool_calls", "input_tokens",
    "output_tokens", "cost_usd", "session_cost_usd", "result_text", "error", "last_message",
    "commits", "changed_files", "worktree_removed", "priority", "not_before", "key", "source",
    "start_job", "subagents_started", "subagents_done", "turn_result"})
_BOOL = ("use_worktree", "worktree_removed", "session_started")


class RunEvent(BaseModel):
    id: int
    kind: str
    summary: str
    at: float


def _run(row: aiosqlite.Row) -> Run:
    data: dict[str, Any] = dict(zip(row.keys(), tuple(row), strict=True))
    for key in _BOOL:
        data[key] = bool(data[key])
    data["commits"] = [CommitInfo(**c) for c in json.loads(data["commits"])]
    data["changed_files"] = [FileChange(**c) for c in json.loads(data["changed_files"])]
    for key in ("fork_from", "pending_prompt", "queued_at", "start_job", "turn_result"):
        data.pop(key, None)
    return Run(**data)


def _encode(fields: dict[str, Any]) -> None:
    """Check every field is a column of ``runs`` and store lists as JSON."""
    unknown = sorted(set(fields) - COLUMNS)
    if unknown:
        raise TypeError(f"runs has no column {unknown[0]!r}; the columns are in "
                        "core.runs.store.COLUMNS")
    for key in _JSON_LIST:
        if key in fields:
            fields[key] = json.dumps([c.model_dump() if isinstance(c, BaseModel) else c
                                      for c in fields[key]])


class RunStore:
    def __init__(self, db: Database, bus: EventBus | None = None) -> None:
        self.db = db
        # Every state change is logged with it, then published.
        self.event_log = EventLog(EventStore(db), bus)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """One change over several stores of this database: all of it or none of it."""
        return self.db.transaction()

    async def new_id(self) -> str:
        while True:
            run_id = secrets.token_hex(4)
            if not await self.db.fetchone("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
                return run_id

    async def insert(self, **fields: Any) -> Run:
        now = time.time()
        fields.setdefault("created_at", now)
        fields.setdefault("state", RunState.QUEUED)
        fields.setdefault("queued_at", now)
        _encode(fields)
        cols = ", ".join(fields)
        async with self.db.transaction():
            await self.db.execute(
                f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(fields))})",
                tuple(fields.values()))
            await self.db.execute(
                "INSERT INTO run_transitions (run_id, from_state, to_state, reason, at) "
                "VALUES (?, NULL, ?, ?, ?)", (fields["id"], fields["state"],
                                              fields.get("state_reason", "created"), now))
            event = await self.event_log.append(RunStateChanged(
                run_id=fields["id"], project=fields["project"], old=None,
                new=RunState(fields["state"]), reason=fields.get("state_reason", "created"),
                at=now))
        self.event_log.publish(event)
        return await self.get(fields["id"])

    async def insert_keyed(self, key: str, **fields: Any) -> tuple[Run, bool]:
        """Insert a run made for the request ``key``, or return the run already made for it:
        (the run, whether it is new). Both in one transaction, so two requests with the same
        key, from any process, make one run."""
        async with self.db.transaction():
            row = await self.db.fetchone("SELECT id FROM runs WHERE key = ?", (key,))
            if row is None:
                await self.insert(key=key, **fields)
                run_id = fields["id"]
            else:
                run_id = row["id"]
        return await self.get(run_id), row is None

    async def by_key(self, key: str) -> Run | None:
        row = await self.db.fetchone("SELECT * FROM runs WHERE key = ?", (key,))
        return _run(row) if row is not None else None

    async def by_key_prefix(self, prefix: str) -> list[Run]:
        """The runs whose key starts with ``prefix``, oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM runs WHERE key >= ? AND substr(key, 1, length(?)) = ? "
            "ORDER BY created_at, id", (prefix, prefix, prefix))
        return [_run(r) for r in rows]

    async def get(self, run_id: str) -> Run:
        row = await self.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound(f"no run {run_id!r}; list runs with `gluon runs`")
        return _run(row)

    async def resolve(self, prefix: str) -> Run:
        """A run by its id or a unique prefix of it."""
        prefix = prefix.strip().lower()
        rows = []
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            rows = await self.db.fetchall(
                "SELECT * FROM runs WHERE id LIKE ? ORDER BY created_at DESC LIMIT 6",
                (prefix + "%",))
        if not rows:
            raise NotFound(f"no run {prefix!r}{await self._close_matches(prefix)}")
        if len(rows) > 1 and rows[0]["id"] != prefix:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise Ambiguous(f"run id {prefix!r} is ambiguous ({ids}); type more characters")
        return _run(rows[0])

    async def _close_matches(self, wanted: str) -> str:
        recent = [r["id"] for r in await self.db.fetchall(
            "SELECT id FROM runs ORDER BY created_at DESC LIMIT 500")]
        close = difflib.get_close_matches(wanted, recent, n=3, cutoff=0.5)
        if close:
            return f"; did you mean {' or '.join(close)}?"
        return "; list runs with `gluon runs`"

    async def find(self, *, project: str | None = None, states: list[RunState] | None = None,
                   limit: int = 50, offset: int = 0) -> list[Run]:
        where, params = [], []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += [str(s) for s in states]
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        return [_run(r) for r in await self.db.fetchall(sql, (*params, limit, offset))]

    async def queued(self) -> list[Run]:
        rows = await self.db.fetchall(
            "SELECT * FROM runs WHERE state = ? ORDER BY priority DESC, queued_at, created_at",
            (RunState.QUEUED,))
        return [_run(r) for r in rows]

    async def waiting(self, limit: int) -> list[tuple[Run, str | None, float]]:
        """Queued runs in about the order their start jobs are claimed (priority, then when
        they are due, then when they were queued), each with its start job and when it was
        queued."""
        rows = await self.db.fetchall(
            "SELECT * FROM runs WHERE state = ? ORDER BY priority DESC, "
            "max(coalesce(not_before, 0), coalesce(queued_at, created_at)), queued_at, "
            "created_at LIMIT ?", (RunState.QUEUED, limit))
        return [(_run(r), r["start_job"], r["queued_at"] or r["created_at"]) for r in rows]

    async def times_queued(self, run_id: str) -> int:
        """How many times the run was queued (started, resumed, recovered): its start attempt.
        (A queued run noted as waiting stays in the same attempt.)"""
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM run_transitions WHERE run_id = ? AND to_state = ? "
            "AND from_state IS NOT ?", (run_id, str(RunState.QUEUED), str(RunState.QUEUED)))
        return int(row["n"]) if row is not None else 0

    async def update(self, run_id: str, **fields: Any) -> None:
        _encode(fields)
        sets = ", ".join(f"{k} = ?" for k in fields)
        await self.db.execute(f"UPDATE runs SET {sets} WHERE id = ?",
                              (*fields.values(), run_id))

    async def add_usage(self, run_id: str, *, turns: int, tool_calls: int, input_tokens: int,
                        output_tokens: int, cost_usd: float, session_cost_usd: float) -> None:
        await self.db.execute(
            "UPDATE runs SET turns = turns + ?, tool_calls = tool_calls + ?, "
            "input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
            "cost_usd = cost_usd + ?, session_cost_usd = ? WHERE id = ?",
            (turns, tool_calls, input_tokens, output_tokens, cost_usd, session_cost_usd, run_id))

    async def count_tool_call(self, run_id: str, at: float) -> None:
        await self.db.execute(
            "UPDATE runs SET tool_calls = tool_calls + 1, last_activity_at = ? WHERE id = ?",
            (at, run_id))

    async def hidden(self, run_id: str) -> dict[str, Any]:
        """Columns that are not part of the public record (prompt to send, fork source, cost
        baseline, when it was last queued, its start job, a turn ended on a worker that waits
        for what follows it)."""
        row = await self.db.fetchone(
            "SELECT pending_prompt, fork_from, session_cost_usd, queued_at, start_job, "
            "turn_result FROM runs WHERE id = ?",
            (run_id,))
        assert row is not None
        return dict(row)

    async def transition(self, run_id: str, new: RunState, reason: str, *,
                         checked: bool = True, at: float | None = None,
                         **fields: Any) -> tuple[Run, RunState]:
        """Move a run to ``new`` (checked against the state machine) and record why.

        Unchecked (``checked`` false), with the time it happened (``at``): a transition the
        run made where it executes (a ``gluon worker``, whose run manager checked it),
        recorded here as it was made."""
        now = time.time() if at is None else at
        async with self.db.transaction():
            row = await self.db.fetchone("SELECT state, project FROM runs WHERE id = ?",
                                         (run_id,))
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            old = RunState(row["state"])
            if checked and new is not old and new not in TRANSITIONS[old]:
                raise Conflict(f"run {run_id!r} is {old}; it cannot become {new}")
            if new is RunState.QUEUED:
                fields.setdefault("queued_at", now)
            if new in (RunState.REVIEW, RunState.FAILED, RunState.CANCELLED,
                       RunState.INTERRUPTED):
                fields.setdefault("ended_at", now)
            fields.update(state=str(new), state_reason=reason)
            _encode(fields)
            sets = ", ".join(f"{k} = ?" for k in fields)
            await self.db.execute(f"UPDATE runs SET {sets} WHERE id = ?",
                                  (*fields.values(), run_id))
            await self.db.execute(
                "INSERT INTO run_transitions (run_id, from_state, to_state, reason, at) "
                "VALUES (?, ?, ?, ?, ?)", (run_id, str(old), str(new), reason, now))
            event = await self.event_log.append(RunStateChanged(
                run_id=run_id, project=row["project"], old=old, new=new, reason=reason, at=now))
        self.event_log.publish(event)
        return await self.get(run_id), old

    async def forget_project(self, project: str) -> None:
        """Delete the project's runs (what hangs off them goes by its foreign keys); a fork
        of another of its runs first forgets its parent, so the order does not matter."""
        async with self.db.transaction():
            await self.db.execute("UPDATE runs SET parent_id = NULL WHERE project = ?",
                                  (project,))
            await self.db.execute("DELETE FROM runs WHERE project = ?", (project,))

    async def follow_move(self, project: str, old_path: str, new_path: str) -> None:
        """The project's checkout moved: runs that worked in it (no worktree) follow it."""
        await self.db.execute(
            "UPDATE runs SET cwd = ? WHERE project = ? AND use_worktree = 0 AND cwd = ?",
            (new_path, project, old_path))

    async def transitions(self, run_id: str) -> list[Transition]:
        rows = await self.db.fetchall(
            "SELECT from_state, to_state, reason, at FROM run_transitions WHERE run_id = ? "
            "ORDER BY id", (run_id,))
        return [Transition(from_state=r["from_state"], to_state=r["to_state"],
                           reason=r["reason"], at=r["at"]) for r in rows]

    async def add_event(self, run_id: str, kind: str, summary: str,
                        at: float | None = None) -> None:
        await self.db.execute(
            "INSERT INTO run_events (run_id, kind, summary, at) VALUES (?, ?, ?, ?)",
            (run_id, kind, summary, time.time() if at is None else at))

    async def forget(self, run_id: str) -> None:
        """Delete one run and what hangs off it (a worker's copy of a run it takes again)."""
        async with self.db.transaction():
            await self.db.execute("UPDATE runs SET parent_id = NULL WHERE parent_id = ?",
                                  (run_id,))
            await self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    async def events(self, run_id: str, after: int = 0, limit: int = 200) -> list[RunEvent]:
        """Oldest first: from the start of the log, its last ``limit`` events (its tail); after
        an event id, the next ``limit`` events (a reader going through it page by page)."""
        if after > 0:
            rows = await self.db.fetchall(
                "SELECT id, kind, summary, at FROM run_events WHERE run_id = ? AND id > ? "
                "ORDER BY id LIMIT ?", (run_id, after, limit))
            return [RunEvent(**dict(r)) for r in rows]
        rows = await self.db.fetchall(
            "SELECT id, kind, summary, at FROM run_events WHERE run_id = ? "
            "ORDER BY id DESC LIMIT ?", (run_id, limit))
        return [RunEvent(**dict(r)) for r in reversed(rows)]
