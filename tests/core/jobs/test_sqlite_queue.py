"""What only the SQLite backend has: its tables' migrations, and living in ``gluon.db``."""

from __future__ import annotations

from pathlib import Path

from core.jobs import JobState, SqliteJobQueue
from core.jobs.migrations import JOB_MIGRATIONS, RECORD_TABLE
from core.store.db import Database
from core.store.migrations import MIGRATIONS


async def test_the_job_tables_are_created_once_and_recorded_beside_cores_migrations(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "gluon.db")
    await db.open()
    try:
        queue = await SqliteJobQueue(db).open()
        job_id = await queue.enqueue("run.start", {"run": "r1"})
        rows = await db.fetchall(f"SELECT version, name FROM {RECORD_TABLE} ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [
            (version, name) for version, (name, _) in enumerate(JOB_MIGRATIONS, start=1)]
        core = await db.fetchall("SELECT version FROM migrations")
        assert len(core) == len(MIGRATIONS)
        assert await queue.store.migrate() == []  # opening again applies nothing
        await SqliteJobQueue(db).open()
        assert (await queue.get(job_id)).state is JobState.QUEUED
    finally:
        await db.close()


async def test_closing_a_queue_on_the_coordinators_database_leaves_the_database_open(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "gluon.db")
    await db.open()
    try:
        queue = await SqliteJobQueue(db).open()
        await queue.close()
        await queue.close()
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_a_queue_opened_on_a_file_owns_and_closes_its_connection(tmp_path: Path) -> None:
    queue = await SqliteJobQueue.open_file(tmp_path / "home" / "gluon.db")
    job_id = await queue.enqueue("run.start", {})
    await queue.close()
    await queue.close()
    again = await SqliteJobQueue.open_file(tmp_path / "home" / "gluon.db")
    try:
        assert (await again.get(job_id)).kind == "run.start"
    finally:
        await again.close()
