"""Upgrading a data dir from release 0.1.0: tests/fixtures/release-0.1.0.db, made by that
release's code (tests/fixtures/make_release_db.py), opened by the current code.

The chat tables moved from core's migrations list to the chat package's own: the upgrade must
adopt them as they are, lose nothing, and leave every record visible as before. A migration
that fails leaves the file as it was.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bots.chat.migrations import CHAT_MIGRATIONS, CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from core.config import Config
from core.errors import MigrationFailed
from core.runtime import Runtime
from core.store.migrations import MIGRATIONS
from core.tables import TableSet
from tests.mcp_tools.client import call, connected

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0.db"
RECORDS = ("migrations", "chat_migrations", "job_migrations")


def contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
                for name in names}


def schema(db: Path) -> set[tuple[str, str]]:
    """(name, SQL) of every table and index but the migration records, whitespace folded."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                            "AND type IN ('table', 'index')").fetchall()
    return {(name, " ".join(sql.split())) for name, sql in rows if name not in RECORDS}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(FIXTURE, home / "gluon.db")
    return home


@pytest.fixture
async def upgraded(home: Path) -> AsyncIterator[Runtime]:
    # As a command opens it: recovery and the queue are left to the next `gluon serve`.
    runtime = Runtime(Config(home=home), tables=[CHAT_TABLES])
    await runtime.open(resume_interrupted=False)
    try:
        yield runtime
    finally:
        await runtime.close()


def by_prompt(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["prompt"].removeprefix("SCRIPT:").split()[0]: r for r in runs}


async def test_the_upgrade_adopts_the_chat_tables_and_loses_no_row(home: Path) -> None:
    before = contents(home / "gluon.db")
    async with Runtime(Config(home=home), tables=[CHAT_TABLES]) as runtime:
        applied = await runtime.db.fetchall("SELECT version, name FROM chat_migrations")
        assert [(r["version"], r["name"]) for r in applied] == [(1, "chat_tables")]
        assert len(await runtime.db.fetchall("SELECT 1 FROM migrations")) == len(MIGRATIONS)
    after = contents(home / "gluon.db")
    # Even a coordinator's start (which recovers the run left waiting) keeps every row.
    assert set(after) >= set(before)
    for table in ("projects", "workspaces", "permission_rules", "usage", "settings",
                  "chat_users", "pairing_codes", "chat_turns", "chat_prefs", "chat_runs",
                  "chat_messages", "chat_links", "chat_confirmations", "run_events"):
        assert after[table] == before[table], table
    assert len(after["runs"]) == len(before["runs"]) == 6
    assert len(after["interactions"]) == len(before["interactions"]) == 2


async def test_a_new_data_dir_gets_the_schema_an_upgraded_one_has(
        home: Path, tmp_path: Path) -> None:
    async with Runtime(Config(home=home), tables=[CHAT_TABLES]):
        pass
    async with Runtime(Config(home=tmp_path / "new"), tables=[CHAT_TABLES]):
        pass
    assert schema(tmp_path / "new" / "gluon.db") == schema(home / "gluon.db")


async def test_every_record_of_the_old_data_dir_is_visible_through_the_tools(
        upgraded: Runtime) -> None:
    async with connected(upgraded) as client:
        projects = (await call(client, "list_projects"))["projects"]
        assert {p["name"]: p["workspace"] is not None for p in projects} == {
            "demo": False, "web": True}
        runs = by_prompt((await call(client, "list_runs", limit=50))["runs"])
        assert {name: r["state"] for name, r in runs.items()} == {
            "merged": "merged", "answered": "review", "failed": "failed",
            "cancelled": "cancelled", "pending": "waiting", "queued": "queued"}
        merged = await call(client, "get_run", run=runs["merged"]["id"])
        assert [t["to_state"] for t in merged["transitions"]] == [
            "queued", "running", "review", "merged"]
        assert merged["run"]["cost_usd"] > 0 and merged["run"]["commits"]
        logs = await call(client, "get_run_logs", run=runs["merged"]["id"])
        assert logs["events"]
        [waiting] = (await call(client, "list_pending"))["pending"]
        assert waiting["title"] == "Deploy now?" and waiting["run_id"] == runs["pending"]["id"]
        answered = await call(client, "get_run", run=runs["answered"]["id"])
        assert answered["pending"] == []
        usage = await call(client, "get_usage", days=366)
        assert sum(d["runs"] for d in usage["by_day"]) == 3
        settings = await call(client, "get_settings")
        assert settings["overrides"] == {"agents.daily_budget_usd": 25.0,
                                         "agents.max_concurrent": 1,
                                         "projects.demo.daily_budget_usd": 5.5}
        assert settings["config"]["agents"]["max_concurrent"] == 1
        users = (await call(client, "list_chat_users"))["users"]
        assert [(u["platform"], u["user_id"], u["role"]) for u in users] == [
            ("telegram", "111", "operator")]
        activity = (await call(client, "get_activity", limit=100))["entries"]
        assert {"project.add", "workspace.add", "access.pair", "interaction.answer"} <= {
            e["action"] for e in activity}
    assert await upgraded.projects.tool_rules("demo") == ["Bash(npm test:*)"]


async def test_the_chat_records_of_the_old_data_dir_are_visible_to_the_chat_layer(
        upgraded: Runtime) -> None:
    runs = {r.prompt.removeprefix("SCRIPT:").split()[0]: r.id
            for r in await upgraded.runs.find(limit=50)}
    orch = Orchestrator(upgraded, llm=None)
    try:
        history = await orch.conversations.history("telegram:-100:7", 10_000)
        assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
        assert history[-1]["content"] == "Started it."
        assert await orch.conversations.prefs("telegram:-100:7") == {
            "model": "opus", "project": None}
        assert await orch.conversations.prefs("discord:555:") == {
            "model": None, "project": "demo"}
        store = orch.store
        followed = {f.run_id: f for f in await store.live_followed("telegram")}
        assert set(followed) == {runs["pending"]}
        assert followed[runs["pending"]].thread_id == "7"
        assert await store.follows("discord:555:", runs["answered"])
        [question] = await upgraded.runs.interactions.pending(runs["pending"])
        assert await store.about("telegram", "-100", "9002") == (runs["pending"], question.id)
        assert await store.open_questions("telegram", runs["pending"]) == [
            ("9002", question.id)]
        assert await store.linked_project("discord", "555") == "demo"
        held = await orch.held("c0ffee123456")
        assert held is not None and held.action.tool == "remove_project"
        assert held.speaker.name == "bob" and held.action.arguments == {"name": "web"}
    finally:
        await orch.close()


async def test_a_migration_that_fails_halfway_leaves_the_old_file_as_it_was(
        home: Path) -> None:
    db = home / "gluon.db"
    before, before_schema = contents(db), schema(db)
    broken = TableSet("chat_migrations", (*CHAT_MIGRATIONS, ("broken", """
CREATE TABLE half_done (x INTEGER);
INSERT INTO half_done VALUES (1);
INSERT INTO no_such_table VALUES (1);
""")))
    runtime = Runtime(Config(home=home), tables=[broken])
    with pytest.raises(MigrationFailed) as failed:
        await runtime.open(resume_interrupted=False)

    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(f"could not upgrade the database {str(db)!r}: migration 2 "
                              "('broken', recorded in chat_migrations) failed: no such table: "
                              "no_such_table; nothing was changed")
    assert contents(db) == before  # no chat_migrations record, no half_done table
    assert schema(db) == before_schema
    # The data dir is free again, and the good list upgrades it.
    async with Runtime(Config(home=home), tables=[CHAT_TABLES]) as again:
        assert len(await again.runs.find(limit=50)) == 6
