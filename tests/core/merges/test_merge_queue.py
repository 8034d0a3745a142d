"""The merge queue on a local-only project: real git, the real CLI against the scripted model,
the project's test command in the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import Config
from core.errors import Conflict
from core.events.bus import MergeStep
from core.merges.states import MergeState
from core.merges.types import MergeEntry
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

# What the scripted agent does when the merge queue tells it its branch conflicts: rebase,
# take both sides of app.py, finish the rebase.
RESOLVE = ("git rebase main >/dev/null 2>&1; "
           "printf 'def add(a, b):\\n    return a + b  # checked\\n\\n\\n"
           "def sub(a, b):\\n    return a - b\\n' > app.py && git add app.py && "
           "GIT_EDITOR=true git rebase --continue")


def with_tests(config: Config, command: str = "sh test.sh") -> Config:
    return config.model_copy(update={"projects": {
        "demo": config.project("demo").model_copy(update={"test_command": command})}})


@pytest.fixture
async def rt(tmp_path: Path, model_server: ScriptedModelServer) -> AsyncIterator[Runtime]:
    config = with_tests(make_config(tmp_path / "home", model_server))
    runtime = Runtime(config, environ=daemon_environ())
    await runtime.open()
    try:
        yield runtime
    finally:
        await runtime.close()


async def finished_run(rt: Runtime, model_server: ScriptedModelServer, key: str,
                       *steps: s.Step) -> str:
    model_server.script(key, [*steps, s.text("Done.")])
    run = await rt.runs.start_run("demo", f"{key} please")
    ended = await wait_state(rt, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)
    assert ended.state is RunState.REVIEW, ended.state_reason
    return run.id


async def ended(rt: Runtime, entry: MergeEntry, timeout: float = 180) -> MergeEntry:  # noqa: ASYNC109
    """Wait (on the event bus) until the entry has left the queue and its line is done
    (a merged run's branch and worktree removed)."""
    with rt.bus.subscribe(lambda e: isinstance(e, MergeStep) and e.entry_id == entry.id) as sub:
        async with asyncio.timeout(timeout):
            while (await rt.merges.get(entry.id)).state.is_open:
                await sub.get()
    await rt.merges.idle()
    return await rt.merges.get(entry.id)


def gluon_branches(repo: Path) -> list[str]:
    return [b for b in git(repo, "branch", "--format=%(refname:short)").splitlines()
            if b.startswith("gluon/")]


async def test_three_runs_merge_in_order_one_after_its_agent_resolved_a_conflict(
        rt: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    (repo / "test.sh").write_text("grep -q 'return a + b' app.py\n")
    git(repo, "add", "test.sh")
    git(repo, "commit", "-qm", "tests")
    await rt.projects.add("demo", str(repo))
    first = await finished_run(rt, model_server, "SCRIPT:notes", s.write("NOTES.md", "notes\n"))
    second = await finished_run(
        rt, model_server, "SCRIPT:check",
        s.write("app.py", "def add(a, b):\n    return a + b  # checked\n"))
    third = await finished_run(
        rt, model_server, "SCRIPT:sub",
        s.write("app.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
                "    return a - b\n"))
    model_server.script("conflicts with main", [s.bash(RESOLVE), s.text("Resolved.")])

    entries = [await rt.merges.enqueue(run_id, actor="carol")
               for run_id in (first, second, third)]
    assert [e.position for e in entries] == [1, 2, 3]
    done = [await ended(rt, e) for e in entries]
    await rt.merges.idle()  # the last one's branch and worktree are being removed

    assert [e.state for e in done] == [MergeState.MERGED] * 3, [e.reason for e in done]
    assert done[0].ended_at and done[1].ended_at and done[2].ended_at
    assert done[0].ended_at <= done[1].ended_at <= done[2].ended_at
    assert done[2].conflict_fixes == 1 and done[0].conflict_fixes == done[1].conflict_fixes == 0
    # main has the three changes, the user's checkout with it, and nothing is left behind.
    assert (repo / "NOTES.md").read_text() == "notes\n"
    assert "# checked" in (repo / "app.py").read_text()
    assert "def sub" in (repo / "app.py").read_text()
    assert git(repo, "status", "--porcelain") == ""
    assert gluon_branches(repo) == [], (first, second, third, [e.reason for e in done])
    assert "branch refs/heads/gluon/" not in git(repo, "worktree", "list", "--porcelain")
    for run_id in (first, second, third):
        run = await rt.runs.get(run_id)
        assert run.state is RunState.MERGED and run.worktree_removed
        assert not Path(run.cwd).exists()
    states = [t[1] for t in await rt.merges.transitions(done[2].id)]
    assert states == ["waiting", "rebasing", "resolving", "rebasing", "checking", "merging",
                      "merged"], states
    steps = (await rt.events.after(0, 500, kinds=[MergeStep], run_id=third)).events
    assert [e.state for e in steps if isinstance(e, MergeStep)][-1] == "merged"
    assert any(isinstance(e, MergeStep) and e.files == ["app.py"] and e.state == "resolving"
               for e in steps)


async def test_a_branch_that_fails_the_tests_is_not_merged_until_its_agent_fixed_it(
        rt: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    (repo / "test.sh").write_text("grep -q 'return a + b' app.py || "
                                  "{ echo 'add is broken' >&2; exit 1; }\n")
    git(repo, "add", "test.sh")
    git(repo, "commit", "-qm", "tests")
    before = git(repo, "rev-parse", "main")
    await rt.projects.add("demo", str(repo))
    run_id = await finished_run(rt, model_server, "SCRIPT:break",
                                s.write("app.py", "def add(a, b):\n    return a - b\n"))
    model_server.script("does not pass its checks", [
        s.write("app.py", "def add(a, b):\n    return a + b\n"), s.text("Fixed.")])

    entry = await ended(rt, await rt.merges.enqueue(run_id))

    assert entry.state is MergeState.MERGED, entry.reason
    assert entry.check_fixes == 1
    told = [r for r in model_server.requests if "does not pass its checks" in r.all_text()]
    assert told and "add is broken" in told[0].last_user_text()
    assert git(repo, "rev-parse", "main") != before
    assert (repo / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


async def test_a_branch_that_keeps_failing_stops_with_the_reason_and_can_be_retried(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    config = make_config(tmp_path / "home", model_server)
    config = with_tests(config.model_copy(update={"merge": config.merge.model_copy(
        update={"check_fixes": 0})}), "echo 'nope' >&2; exit 3")
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        before = git(repo, "rev-parse", "main")
        run_id = await finished_run(rt, model_server, "SCRIPT:x", s.write("x.txt", "x\n"))
        entry = await ended(rt, await rt.merges.enqueue(run_id))
        assert entry.state is MergeState.FAILED
        assert "failed on the rebased branch" in entry.reason
        assert git(repo, "rev-parse", "main") == before  # nothing merged that failed
        assert (await rt.runs.get(run_id)).state is RunState.REVIEW
        retried = await rt.merges.retry(entry.id)
        assert retried.state is MergeState.WAITING and retried.check_fixes == 0
        again = await ended(rt, retried)
        assert again.state is MergeState.FAILED
        cancelled = await rt.merges.cancel(entry.id)
        assert cancelled.state is MergeState.CANCELLED
        with pytest.raises(Conflict, match="only a failed entry"):
            await rt.merges.retry(entry.id)


async def test_a_base_that_moved_during_the_checks_is_rebased_onto_again_before_merging(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    # The tests wait for a flag in the worktree (all the sandbox sees), so the base can move
    # while they run.
    config = with_tests(make_config(tmp_path / "home", model_server),
                        "while [ ! -e release.flag ]; do sleep 0.1; done")
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run_id = await finished_run(rt, model_server, "SCRIPT:x", s.write("x.txt", "x\n"))
        worktree = Path((await rt.runs.get(run_id)).cwd)
        with rt.bus.subscribe(lambda e: isinstance(e, MergeStep)) as sub:
            entry = await rt.merges.enqueue(run_id)
            async with asyncio.timeout(60):
                while True:
                    event = await sub.get()
                    if isinstance(event, MergeStep) and event.state == "checking":
                        break
        (repo / "other.txt").write_text("someone else's work\n")
        git(repo, "add", "other.txt")
        git(repo, "commit", "-qm", "Someone else's commit")
        (worktree / "release.flag").touch()

        entry = await ended(rt, entry)
        states = [t[1] for t in await rt.merges.transitions(entry.id)]

    assert entry.state is MergeState.MERGED, entry.reason
    assert entry.rebases == 1
    assert states == ["waiting", "rebasing", "checking", "merging", "rebasing", "checking",
                      "merging", "merged"], states
    assert set(git(repo, "ls-tree", "--name-only", "main").split()) >= {"x.txt", "other.txt"}
