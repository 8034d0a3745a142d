"""The SQLite database: one aiosqlite connection, WAL, foreign keys, numbered migrations.

Migrations are applied all or nothing: every pending migration of every list (core's, and the
table sets of packages that own tables) runs in one transaction, statement by statement, so a
failure rolls the file back to what it was and names the migration that failed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

import aiosqlite

from core.errors import MigrationFailed
from core.store.migrations import MIGRATIONS
from core.tables import Migration, Params, TableSet

CORE_TABLES = TableSet("migrations", tuple(MIGRATIONS))

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

    async def open(self, tables: Sequence[TableSet] = ()) -> None:
        """Connect and apply the pending migrations of core's list and of ``tables`` (the
        table sets of other packages, applied after core's); MigrationFailed leaves the file
        as it was."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        self._conn = conn
        await self.apply([CORE_TABLES, *tables])

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self._conn is not None, "Database.open() was not called"
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS,
                      record: str = "migrations") -> list[str]:
        """Apply the migrations of one list not yet recorded in ``record``; return the names
        applied. Core's list is recorded in ``migrations``; a package that owns tables of its
        own (``core.jobs``) passes its list and record table, numbered from 1 the same way."""
        return await self.apply([TableSet(record, tuple(migrations))])

    async def apply(self, sets: Sequence[TableSet]) -> list[str]:
        """Apply every pending migration of ``sets``, in order, in one transaction; return the
        names applied. On a failure nothing stays applied (the record tables included) and
        MigrationFailed says which migration failed and why."""
        # Under the transaction lock: a package's list may be applied while other tasks
        # already use the connection.
        async with self._tx_lock:
            await self._begin()
            token = _in_transaction.set(True)
            try:
                applied = [name for table_set in sets for name in await self._apply(table_set)]
            except BaseException:
                await asyncio.shield(self.conn.execute("ROLLBACK"))
                raise
            finally:
                _in_transaction.reset(token)
            await asyncio.shield(self.conn.execute("COMMIT"))
        return applied

    async def _apply(self, table_set: TableSet) -> list[str]:
        record = table_set.record
        await self._execute(
            f"CREATE TABLE IF NOT EXISTS {record} "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)", ())
        done = {row[0] for row in await self.fetchall(f"SELECT version FROM {record}")}
        applied = []
        for version, (name, sql) in enumerate(table_set.migrations, start=1):
            if version in done:
                continue
            try:
                for statement in statements(sql):
                    await self._execute(statement, ())
            except sqlite3.Error as exc:
                raise MigrationFailed(
                    f"could not upgrade the database {str(self.path)!r}: migration {version} "
                    f"({name!r}, recorded in {record}) failed: {exc}; nothing was changed, the "
                    "file is as it was before this start (run the Gluon version that last "
                    "used it, or report this error)") from exc
            await self._execute(f"INSERT INTO {record} (version, name, applied_at) "
                                "VALUES (?, ?, ?)", (version, name, time.time()))
            applied.append(name)
        return applied

    async def _begin(self) -> None:
        begin = asyncio.ensure_future(self.conn.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            await begin
            await asyncio.shield(self.conn.execute("ROLLBACK"))
            raise

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
            await self._begin()
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
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """Rows as committed: a read from outside another task's open transaction waits for
        it to end. The connection is shared, so it would otherwise see that transaction's
        uncommitted rows, and could report (a question to answer, a run started) what a
        crash a moment later loses."""
        if _in_transaction.get() or not self._tx_lock.locked():
            # One hop to the database thread instead of three (execute, fetch, close),
            # queued before any transaction that begins after this check.
            return list(await self.conn.execute_fetchall(sql, params))
        async with self._tx_lock:
            return list(await self.conn.execute_fetchall(sql, params))

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"


def statements(script: str) -> list[str]:
    """A migration script as its statements (SQLite's own completeness test, so a ';' inside
    a string or a trigger body does not split one)."""
    found, current = [], ""
    *pieces, last = script.split(";")
    for piece in pieces:
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\n;"):
                found.append(current)
            current = ""
    if (current + last).strip():
        found.append(current + last)
    return found
