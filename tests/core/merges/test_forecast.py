"""The conflict forecast between runs: the real Claude Code CLI against the scripted model,
real git worktrees, the daemon's loop and the run's `get_run` and `gluon show`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from bots.cli.output import run_detail
from core.events.bus import FilesOverlap
from core.merges.forecast import Forecast, Overlap
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer
from tests.mcp_tools.client import call, connected


async def started(rt: Runtime, repo: Path, prompt: str) -> str:
    if await rt.projects.store.get("demo") is None:
        await rt.projects.add("demo", str(repo))
    return (await rt.runs.start_run("demo", prompt)).id


def at(key: str, step: int) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.script_key == key and r.step == step


async def logged(rt: Runtime) -> list[FilesOverlap]:
    page = await rt.events.after(0, 100, kinds=[FilesOverlap])
    return [e for e in page.events if isinstance(e, FilesOverlap)]


async def reported(rt: Runtime, count: int) -> list[FilesOverlap]:
    """The first ``count`` FilesOverlap events of the log, once there are that many."""
    with rt.bus.subscribe(lambda e: isinstance(e, FilesOverlap)) as sub:
        async with asyncio.timeout(60):
            while len(found := await logged(rt)) < count:
                await sub.get()
    return found[:count]


async def test_runs_changing_the_same_file_are_each_told_of_the_other_once_per_file(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:fa", [s.write("api/auth.py", "a\n"),
                                      s.hold("fa", then=s.write("api/users.py", "a\n")),
                                      s.text("A done")])
    model_server.script("SCRIPT:fb", [s.write("api/auth.py", "b\n"),
                                      s.write("api/users.py", "b\n"),
                                      s.hold("fb", then=s.text("B done"))])
    model_server.script("SCRIPT:fc", [s.write("docs/notes.md", "c\n"),
                                      s.hold("fc", then=s.text("C done"))])
    a = await started(runtime, repo, "SCRIPT:fa log in")
    b = await started(runtime, repo, "SCRIPT:fb sessions")
    c = await started(runtime, repo, "SCRIPT:fc docs")
    for key, step in (("SCRIPT:fa", 1), ("SCRIPT:fb", 2), ("SCRIPT:fc", 1)):
        await model_server.await_request(at(key, step), timeout=60)  # its files are written

    # While the agents work (their files not committed yet), the daemon's loop says so.
    loop = asyncio.create_task(runtime.forecast.run())
    try:
        first = await reported(runtime, 2)
        assert {(e.run_id, e.other_run_id, tuple(e.files)) for e in first} == {
            (a, b, ("api/auth.py",)), (b, a, ("api/auth.py",))}
        assert {e.base for e in first} == {"main"}
        assert await runtime.forecast.overlaps(a) == [
            Overlap(other_run_id=b, other_state=RunState.RUNNING, files=["api/auth.py"])]
        assert await runtime.forecast.overlaps(c) == []
        async with connected(runtime) as client:
            detail = await call(client, "get_run", run=b)
        assert detail["overlaps"] == [{"run_id": a, "state": "running",
                                       "files": ["api/auth.py"]}]
        assert f"  also changing api/auth.py: run {a} (running)" in run_detail(detail)

        # Run A then changes a second file run B changes: only that file is news.
        model_server.release("fa")
        assert (await wait_state(runtime, a)).state is RunState.REVIEW
        second = (await reported(runtime, 4))[2:]
        assert {(e.run_id, e.other_run_id, tuple(e.files)) for e in second} == {
            (a, b, ("api/users.py",)), (b, a, ("api/users.py",))}
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    model_server.release("fb")
    model_server.release("fc")
    for run_id in (b, c):
        assert (await wait_state(runtime, run_id)).state is RunState.REVIEW

    # In review, not merged yet, they still collide (from their commits now); nothing is
    # said twice, not even by a Gluon started afresh, which reads what was said from the log.
    assert await runtime.forecast.overlaps(b) == [
        Overlap(other_run_id=a, other_state=RunState.REVIEW,
                files=["api/auth.py", "api/users.py"])]
    assert await runtime.forecast.check() == []
    assert await Forecast(runtime.runs, runtime.events).check() == []
    assert len(await logged(runtime)) == 4
    assert all(c not in (e.run_id, e.other_run_id) for e in await logged(runtime))

    # Once A is merged, B overlaps no live or reviewed run.
    assert (await runtime.review.merge(a)).merged
    assert await runtime.forecast.overlaps(b) == []
    assert await runtime.forecast.overlaps(a) == []


async def test_a_run_whose_head_and_worktree_did_not_change_is_not_diffed_again(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:quiet", [s.write("api/auth.py", "q\n"), s.text("done")])
    run_id = await started(runtime, repo, "SCRIPT:quiet")
    await wait_state(runtime, run_id)
    forecast = Forecast(runtime.runs, runtime.events)
    assert await forecast.check() == []
    diffs = forecast.changes.diffs
    assert diffs == 1
    for _ in range(3):
        await forecast.check()
    assert forecast.changes.diffs == diffs
