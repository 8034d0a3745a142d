"""core.runs.interactions over its store, against a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.events.bus import EventBus
from core.runs.interaction_store import InteractionStore
from core.runs.interactions import Interactions
from core.runs.store import RunStore
from core.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "gluon.db")
    await database.open()
    await database.execute("INSERT INTO projects (name, path, created_at) VALUES "
                           "('demo', '/srv/demo', 0)")
    await RunStore(database).insert(id="r1", project="demo", prompt="fix it", model="m",
                                    use_worktree=0, cwd="/srv/demo", session_id="s")
    try:
        yield database
    finally:
        await database.close()


async def test_an_unanswered_request_is_reminded_about_once_per_period_and_an_answered_never(
        db: Database) -> None:
    interactions = Interactions(InteractionStore(db), EventBus())
    waiting = await interactions.create("r1", "demo", "Bash", {"command": "make deploy"})
    answered = await interactions.create("r1", "demo", "Bash", {"command": "ls"})
    await interactions.answer(answered.id, "allow", "cli")

    assert [i.id for i in await interactions.due_reminders(0)] == [waiting.id]
    assert await interactions.due_reminders(3600) == []
    await interactions.expire_for_run("r1")
    assert await interactions.due_reminders(0) == []
    assert await interactions.pending() == []
