"""The run health rules, over run records read back from a real run store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.models import Run
from core.runs.health import NEAR_BUDGET, QUIET_AFTER, Condition, Health, assess
from core.runs.store import RunStore
from core.store.db import Database
from core.types import RunState

NOW = 1_800_000_000.0
MakeRun = Callable[..., Awaitable[Run]]


@pytest.fixture
async def make_run(tmp_path: Path) -> AsyncIterator[MakeRun]:
    """Insert a run into a real SQLite store and read the record back."""
    db = Database(tmp_path / "gluon.db")
    await db.open()
    await db.execute("INSERT INTO projects (name, path, created_at) VALUES ('demo', ?, ?)",
                     (str(tmp_path), NOW))
    store = RunStore(db)

    async def make(state: RunState = RunState.RUNNING, **fields: Any) -> Run:
        fields.setdefault("created_at", NOW - 60)
        return await store.insert(id=await store.new_id(), project="demo", prompt="fix it",
                                  model="haiku", use_worktree=1, cwd=str(tmp_path),
                                  session_id="s", state=state, **fields)

    yield make
    await db.close()


async def test_a_run_that_just_did_something_is_working(make_run: MakeRun) -> None:
    run = await make_run(started_at=NOW - 600, last_activity_at=NOW - 5)
    assert assess(run, NOW) == Health(Condition.WORKING, "working")
    assert not assess(run, NOW).needs_attention


async def test_a_live_run_silent_past_the_threshold_looks_stuck(make_run: MakeRun) -> None:
    run = await make_run(started_at=NOW - 3600, last_activity_at=NOW - 7 * 60 - 30)
    health = assess(run, NOW)
    assert health == Health(Condition.QUIET, "quiet for 7 min") and health.needs_attention
    assert assess(run, NOW - 7 * 60 - 30 + QUIET_AFTER).condition is Condition.WORKING


async def test_silence_counts_from_the_start_when_nothing_happened_yet(
        make_run: MakeRun) -> None:
    started = await make_run(created_at=NOW - 3600, started_at=NOW - 400)
    assert assess(started, NOW).text == "quiet for 6 min"
    never = await make_run(created_at=NOW - 30)
    assert assess(never, NOW).condition is Condition.WORKING


async def test_a_run_retrying_the_model_api_says_so_rather_than_looking_stuck(
        make_run: MakeRun) -> None:
    run = await make_run(last_activity_at=NOW - 3600)
    assert assess(run, NOW, retrying=True) == Health(Condition.RETRYING,
                                                     "retrying the model API")


async def test_a_working_run_that_spent_most_of_its_budget_says_how_much(
        make_run: MakeRun) -> None:
    near = await make_run(last_activity_at=NOW, budget_usd=5.0, cost_usd=4.5)
    health = assess(near, NOW)
    assert health == Health(Condition.NEAR_BUDGET, "working, 90% of its $5.00 budget spent")
    assert health.needs_attention
    below = await make_run(last_activity_at=NOW, budget_usd=5.0,
                           cost_usd=5.0 * NEAR_BUDGET - 0.01)
    assert assess(below, NOW).condition is Condition.WORKING
    unbounded = await make_run(last_activity_at=NOW, cost_usd=100.0)
    assert assess(unbounded, NOW).condition is Condition.WORKING


async def test_waiting_and_queued_runs_are_never_called_stuck(make_run: MakeRun) -> None:
    waiting = await make_run(RunState.WAITING, last_activity_at=NOW - 3600)
    assert assess(waiting, NOW) == Health(Condition.WAITING, "waiting for a person")
    queued = await make_run(RunState.QUEUED, created_at=NOW - 3600)
    assert assess(queued, NOW) == Health(Condition.QUEUED, "queued")


@pytest.mark.parametrize(("state", "condition", "text"), [
    (RunState.REVIEW, Condition.REVIEW, "ready for review"),
    (RunState.FAILED, Condition.FAILED, "failed"),
    (RunState.INTERRUPTED, Condition.INTERRUPTED, "interrupted: resume it"),
    (RunState.CANCELLED, Condition.ENDED, "ended"),
    (RunState.MERGED, Condition.ENDED, "ended"),
    (RunState.CLOSED, Condition.ENDED, "ended"),
])
async def test_an_ended_run_says_what_is_left_to_do(
        make_run: MakeRun, state: RunState, condition: Condition, text: str) -> None:
    run = await make_run(state, last_activity_at=NOW - 86_400, budget_usd=1.0, cost_usd=1.0)
    assert assess(run, NOW, retrying=True) == Health(condition, text)
