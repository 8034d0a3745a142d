"""The SQLite database: one aiosqlite connection, WAL, foreign keys, numbered migrations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import aiosqlite

from core.store.migrations import MIGRATIONS

Params = Sequence[Any] | dict[str, Any]

# True inside the task that holds the open transaction.
_in_transaction: ContextVar[bool] = ContextVar("in_transaction", default=False)
# What to do once the open transaction has committed (dropped if it rolls back).
_on_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar("on_commit", default=None)


class Database:
    """A thin async wrapper over one SQLite connection.

    aiosqlite runs every statement on one worker thread, so statements never interleave; a
    multi-statement change goes through :meth:`transaction`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._tx_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        self._conn = conn
        await self.migrate()

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self._conn is not None, "Database.open() was not called"
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def migrate(self, migrations: Sequence[tuple[str, str]] = MIGRATIONS,
                      record: str = "migrations") -> list[str]:
        """Apply the migrations not yet recorded; return the names applied.

        Core's list is recorded in ``migrations``. A package that owns tables of its own
        (``core.jobs``) passes its own ordered list and record table, so each list is numbered
        from 1 and recorded the same way."""
        assert record.isidentifier(), record
        # Under the transaction lock: executescript commits whatever transaction is open, and
        # a package's list may be applied while other tasks already use the connection.
        async with self._tx_lock:
            await self.conn.execute(
                f"CREATE TABLE IF NOT EXISTS {record} "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
            done = {row[0] for row in await self.fetchall(f"SELECT version FROM {record}")}
            applied = []
            for version, (name, sql) in enumerate(migrations, start=1):
                if version in done:
                    continue
                await self.conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO {record} "
                    f"VALUES ({version}, '{name}', {time.time()});\nCOMMIT;")
                applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error). Transactions never overlap; one
        opened inside another is part of it (it commits or rolls back with the outer one).

        Statements run on aiosqlite's thread even when the awaiting task is cancelled, so
        BEGIN, COMMIT and ROLLBACK are shielded: a cancelled task never leaves a transaction
        open.
        """
        if _in_transaction.get():
            yield
            return
        async with self._tx_lock:
            begin = asyncio.ensure_future(self.conn.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
            except asyncio.CancelledError:
                await begin
                await asyncio.shield(self.conn.execute("ROLLBACK"))
                raise
            token = _in_transaction.set(True)
            callbacks: list[Callable[[], None]] = []
            pending = _on_commit.set(callbacks)
            try:
                yield
            except BaseException:
                await asyncio.shield(self.conn.execute("ROLLBACK"))
                raise
            finally:
                _in_transaction.reset(token)
                _on_commit.reset(pending)
            await asyncio.shield(self.conn.execute("COMMIT"))
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the open transaction has committed (never, if it rolls
        back); at once outside a transaction. For news of a change, such as publishing an
        event, that must not go out before the change is stored."""
        callbacks = _on_commit.get()
        if callbacks is None:
            callback()
        else:
            callbacks.append(callback)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed.

        A write from outside an open transaction waits for it to end, so another task's
        rollback can never take it along."""
        if _in_transaction.get():
            return await self._execute(sql, params)
        async with self._tx_lock:
            return await self._execute(sql, params)

    async def _execute(self, sql: str, params: Params) -> int:
        cur = await self.conn.execute(sql, params)
        count = cur.rowcount
        await cur.close()
        return count

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        # One hop, like fetchall: a statement left open between hops would keep its read
        # snapshot while another task's BEGIN IMMEDIATE runs, and that write then fails as
        # soon as a second connection (another process) has written meanwhile.
        rows = list(await self.conn.execute_fetchall(sql, params))
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        # One hop to the database thread instead of three (execute, fetch, close).
        return list(await self.conn.execute_fetchall(sql, params))

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"
