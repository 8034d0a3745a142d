"""core.store.db and core.store.migrations against real SQLite files."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import MigrationFailed
from core.store.db import Database, statements
from core.store.migrations import MIGRATIONS

SCHEMA_TABLES = sorted({name for _, sql in MIGRATIONS
                        for name in re.findall(r"CREATE TABLE (\w+)", sql)})


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "gluon.db")
    await database.open()
    try:
        yield database
    finally:
        await database.close()


async def tables(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [r["name"] for r in rows]


async def count(db: Database, table: str) -> int:
    row = await db.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def add_workspace(db: Database, path: str) -> None:
    await db.execute("INSERT INTO workspaces (path, created_at) VALUES (?, 0)", (path,))


async def test_an_empty_database_file_gets_every_table_and_each_migration_recorded_once(
        tmp_path: Path) -> None:
    path = tmp_path / "data" / "gluon.db"
    path.parent.mkdir()
    path.touch()
    db = Database(path)
    await db.open()
    try:
        assert set(SCHEMA_TABLES) <= set(await tables(db))
        assert {"projects", "runs", "interactions", "usage", "activity"} <= set(SCHEMA_TABLES)
        rows = await db.fetchall("SELECT version, name FROM migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [
            (version, name) for version, (name, _) in enumerate(MIGRATIONS, start=1)]
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_a_missing_data_dir_is_created_on_open(tmp_path: Path) -> None:
    db = Database(tmp_path / "new" / "home" / "gluon.db")
    await db.open()
    await db.close()
    assert (tmp_path / "new" / "home" / "gluon.db").is_file()


async def test_reopening_a_migrated_database_applies_nothing_and_keeps_the_data(
        tmp_path: Path) -> None:
    path = tmp_path / "gluon.db"
    first = Database(path)
    await first.open()
    await add_workspace(first, "/src")
    await first.close()

    again = Database(path)
    await again.open()
    try:
        assert await again.migrate() == []
        assert await count(again, "migrations") == len(MIGRATIONS)
        assert await count(again, "workspaces") == 1
    finally:
        await again.close()


async def test_the_database_uses_wal_and_enforces_foreign_keys(db: Database) -> None:
    mode = await db.fetchone("PRAGMA journal_mode")
    fks = await db.fetchone("PRAGMA foreign_keys")
    assert mode is not None and mode[0] == "wal"
    assert fks is not None and fks[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute("INSERT INTO projects (name, path, workspace, created_at) "
                         "VALUES ('api', '/src/api', '/no/such/workspace', 0)")
    # Another process (the CLI, `sqlite3`) can read while this connection is open.
    other = sqlite3.connect(db.path)
    try:
        assert other.execute("SELECT COUNT(*) FROM projects").fetchone() == (0,)
    finally:
        other.close()


async def test_close_is_idempotent(tmp_path: Path) -> None:
    db = Database(tmp_path / "gluon.db")
    await db.open()
    await db.close()
    await db.close()


async def test_a_transaction_commits_all_its_statements_together(db: Database) -> None:
    async with db.transaction():
        await add_workspace(db, "/a")
        await add_workspace(db, "/b")
    assert await count(db, "workspaces") == 2
    assert not db.conn.in_transaction


async def test_an_error_inside_a_transaction_rolls_back_everything_it_did(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction():
            await add_workspace(db, "/a")
            await add_workspace(db, "/a")  # duplicate primary key
    assert await count(db, "workspaces") == 0
    assert not db.conn.in_transaction

    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction():
            await add_workspace(db, "/b")
            raise RuntimeError("boom")
    assert await count(db, "workspaces") == 0

    async with db.transaction():
        await add_workspace(db, "/c")
    assert await count(db, "workspaces") == 1


async def test_a_task_cancelled_inside_a_transaction_leaves_no_transaction_open(
        db: Database) -> None:
    inside = asyncio.Event()

    async def writer() -> None:
        async with db.transaction():
            await add_workspace(db, "/half-done")
            inside.set()
            await asyncio.Event().wait()  # cancelled here

    task = asyncio.create_task(writer())
    async with asyncio.timeout(10):
        await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not db.conn.in_transaction
    assert await count(db, "workspaces") == 0
    async with asyncio.timeout(10), db.transaction():
        await add_workspace(db, "/next")
    assert await count(db, "workspaces") == 1


async def test_a_task_cancelled_while_beginning_a_transaction_leaves_none_open(
        db: Database) -> None:
    # Another connection holds the write lock, so BEGIN IMMEDIATE is still waiting for it
    # when the task is cancelled.
    blocker = sqlite3.connect(db.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    started = asyncio.Event()

    async def writer() -> None:
        started.set()
        async with db.transaction():
            await add_workspace(db, "/never")

    task = asyncio.create_task(writer())
    async with asyncio.timeout(10):
        await started.wait()
    task.cancel()
    blocker.execute("ROLLBACK")
    blocker.close()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await task

    assert not db.conn.in_transaction
    assert await count(db, "workspaces") == 0
    async with asyncio.timeout(10), db.transaction():
        await add_workspace(db, "/next")
    assert await count(db, "workspaces") == 1


async def test_concurrent_transactions_never_overlap(db: Database) -> None:
    order: list[str] = []
    first_inside = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with db.transaction():
            order.append("first begins")
            first_inside.set()
            await release_first.wait()
            await add_workspace(db, "/first")
            order.append("first ends")

    async def second() -> None:
        async with db.transaction():
            order.append("second begins")
            await add_workspace(db, "/second")

    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        tg.create_task(first())
        await first_inside.wait()
        tg.create_task(second())
        release_first.set()
    assert order == ["first begins", "first ends", "second begins"]
    assert await count(db, "workspaces") == 2


async def test_another_task_never_reads_what_an_open_transaction_has_not_committed(
        db: Database) -> None:
    # The connection is shared: without waiting, a reader (a `list_pending` call) would see
    # a row that a crash before COMMIT loses, and tell a person about it.
    inside, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.transaction():
            await add_workspace(db, "/not-yet")
            inside.set()
            await release.wait()

    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        tg.create_task(writer())
        await inside.wait()
        read = tg.create_task(count(db, "workspaces"))
        await asyncio.sleep(0.05)
        assert not read.done(), "the read did not wait for the open transaction"
        release.set()
    assert read.result() == 1


async def test_a_migration_that_fails_leaves_none_of_the_pending_ones_applied(
        db: Database) -> None:
    await add_workspace(db, "/kept")
    extra = [("first", "CREATE TABLE first_table (x INTEGER);"),
             ("second", "CREATE TABLE second_table (x INTEGER);\n"
                        "INSERT INTO second_table VALUES (1);\n"
                        "INSERT INTO missing VALUES (1);")]
    with pytest.raises(MigrationFailed, match=r"migration 2 \('second', recorded in extra\) "
                                              "failed: no such table: missing; nothing was"):
        await db.migrate(extra, record="extra")

    assert not db.conn.in_transaction
    assert not {"extra", "first_table", "second_table"} & set(await tables(db))
    assert await count(db, "workspaces") == 1
    assert await db.migrate(extra[:1], record="extra") == ["first"]  # the connection works on


def test_a_migration_script_is_split_only_where_sqlite_says_a_statement_ends() -> None:
    script = """
-- a comment; with a semicolon
CREATE TABLE notes (body TEXT DEFAULT 'a;b');
CREATE TRIGGER notes_log AFTER INSERT ON notes BEGIN
    INSERT INTO notes (body) SELECT 'x;y' WHERE 0;
END;
CREATE INDEX notes_body ON notes(body)
"""
    found = [" ".join(s.split()) for s in statements(script)]
    assert found == [
        "-- a comment; with a semicolon CREATE TABLE notes (body TEXT DEFAULT 'a;b');",
        "CREATE TRIGGER notes_log AFTER INSERT ON notes BEGIN INSERT INTO notes (body) "
        "SELECT 'x;y' WHERE 0; END;",
        "CREATE INDEX notes_body ON notes(body)"]
    with sqlite3.connect(":memory:") as conn:
        for statement in statements(script):
            conn.execute(statement)
        conn.execute("INSERT INTO notes DEFAULT VALUES")
        assert conn.execute("SELECT body FROM notes").fetchall() == [("a;b",)]
