"""The work queue: runs queued with a priority, an earliest start, an idempotency key and a
source. Real runs of the Claude Code CLI against the scripted model server, real git, real
SQLite."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from core.errors import InvalidInput, NotFound
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git, make_config, make_repo, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def started_order(rt: Runtime, ids: list[str]) -> list[str]:
    runs = [await wait_state(rt, i) for i in ids]
    assert all(r.state is RunState.REVIEW for r in runs), [r.state_reason for r in runs]
    return [r.id for r in sorted(runs, key=lambda r: r.started_at or 0)]


@pytest.mark.parametrize("limit", [{"max_concurrent": 1},  # runs wait in the job queue
                                   {"max_concurrent_per_project": 1}])  # held by the executor
async def test_queued_runs_start_highest_priority_first_then_first_come_first_served(
        tmp_path: Path, model_server: ScriptedModelServer, limit: dict[str, int]) -> None:
    repo = make_repo(tmp_path / "api")
    model_server.script("SCRIPT:blocker", [s.hold("blocker", then=s.text("done"))])
    config = make_config(tmp_path / "home", model_server, **limit)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("api", str(repo))
        blocker = await rt.runs.start_run("api", "SCRIPT:blocker")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:blocker")
        normal = await rt.runs.start_run("api", "normal")
        low = await rt.runs.start_run("api", "low", priority=-5)
        urgent = await rt.runs.start_run("api", "urgent", priority=50)
        normal2 = await rt.runs.start_run("api", "normal again")
        assert (urgent.priority, low.priority, normal.priority) == (50, -5, 0)
        model_server.release("blocker")
        order = await started_order(rt, [blocker.id, normal.id, low.id, urgent.id, normal2.id])
    assert order == [blocker.id, urgent.id, normal.id, normal2.id, low.id]


async def test_a_second_start_with_the_same_key_returns_the_first_run_and_adds_nothing(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.projects.add("demo", str(repo))
    first = await runtime.runs.start_run("demo", "fix it", key="gh:delivery-1",
                                         source="webhook", actor="github:octocat")
    again = await runtime.runs.start_run("demo", "another text", key="gh:delivery-1",
                                         source="webhook")
    other = await runtime.runs.start_run("demo", "fix it", key="gh:delivery-2",
                                         source="webhook")
    assert again.id == first.id and other.id != first.id
    assert (first.key, first.source, first.created_by) == ("gh:delivery-1", "webhook",
                                                           "github:octocat")
    assert {r.id for r in await runtime.runs.find()} == {first.id, other.id}
    assert runtime.queue is not None
    starts = [str(j.payload["run_id"]) for j in await runtime.queue.list(kind="run.start")]
    assert sorted(starts) == sorted([first.id, other.id])
    for run_id in (first.id, other.id):
        assert (await wait_state(runtime, run_id)).state is RunState.REVIEW
    # A replay after the run has ended still returns it, and starts nothing.
    assert (await runtime.runs.start_run("demo", "fix it", key="gh:delivery-1")).id == first.id
    assert len(await runtime.runs.find()) == 2


async def test_concurrent_starts_with_one_key_make_one_run(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.projects.add("demo", str(repo))
    runs = await asyncio.gather(*(runtime.runs.start_run("demo", f"try {n}", key="cron:x:1")
                                  for n in range(5)))
    assert len({r.id for r in runs}) == 1
    assert len(await runtime.runs.find()) == 1
    await wait_state(runtime, runs[0].id)


async def test_a_run_queued_for_later_waits_and_starts_from_its_base_branch_as_it_is_then(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.projects.add("demo", str(repo))
    model_server.script("SCRIPT:later", [s.text("started later")])
    run = await runtime.runs.start_run("demo", "SCRIPT:later", not_before=time.time() + 3)
    assert run.state is RunState.QUEUED and run.base_sha is None
    assert run.state_reason.startswith("queued by cli to start ")
    (repo / "new.txt").write_text("committed after the run was queued\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-q", "-m", "after queueing")
    newest = git(repo, "rev-parse", "HEAD")
    assert (await runtime.runs.get(run.id)).state is RunState.QUEUED
    assert not [r for r in model_server.requests if r.script_key == "SCRIPT:later"]
    done = await wait_state(runtime, run.id)
    assert done.state is RunState.REVIEW, done.state_reason
    assert done.base_sha == newest
    assert (done.started_at or 0) >= (run.not_before or 0)
    assert (Path(done.cwd) / "new.txt").exists()


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"priority": 101}, "priority 101 is not valid; use a whole number from -100 to 100"),
    ({"priority": True}, "priority True is not valid"),
    ({"not_before": time.time() - 3600}, "is in the past; give a later time"),
    ({"not_before": float("inf")}, "start time inf is not valid"),
    ({"key": ""}, "request key '' is not valid"),
    ({"source": "Chat Room"}, "source 'Chat Room' is not valid"),
])
async def test_bad_queue_parameters_are_refused_in_one_line_and_nothing_is_queued(
        runtime: Runtime, repo: Path, kwargs: dict[str, object], words: str) -> None:
    await runtime.projects.add("demo", str(repo))
    with pytest.raises(InvalidInput) as caught:
        await runtime.runs.start_run("demo", "task", **kwargs)  # type: ignore[arg-type]
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert await runtime.runs.find() == []


async def test_a_queue_item_for_a_removed_project_is_refused_in_one_line(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await runtime.runs.remove_project("demo")
    with pytest.raises(NotFound) as caught:
        await runtime.runs.start_run("demo", "task", priority=3, key="cron:1:2")
    assert "'demo'" in str(caught.value) and "\n" not in str(caught.value)
    assert await runtime.runs.find() == []
