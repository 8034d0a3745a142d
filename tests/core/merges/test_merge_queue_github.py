"""The merge queue on a project whose origin is on GitHub: push, pull request, check runs and
the merge through the REST API (the fake GitHub, backed by the real bare repository the project
pushes to), the agent fixing a failed check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.merges.states import MergeState
from core.runtime import Runtime
from core.types import RunState
from tests.bots.github_env import REPO, github_config, link_origin
from tests.conftest import daemon_environ, git
from tests.core.merges.test_merge_queue import ended, finished_run
from tests.fakes import scripts as s
from tests.fakes.github import Check, FakeGitHub
from tests.fakes.model_server import ScriptedModelServer


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
async def rt(tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
             github: FakeGitHub) -> AsyncIterator[Runtime]:
    github.add_repo(REPO, bare=link_origin(repo, tmp_path))
    config = github_config(tmp_path / "home", model_server, github,
                           merge={"poll_seconds": 0.2})
    runtime = Runtime(config, environ=daemon_environ())
    await runtime.open()
    try:
        await runtime.projects.add("demo", str(repo))
        yield runtime
    finally:
        await runtime.close()


async def test_a_failed_check_is_fixed_by_the_agent_then_the_pull_request_is_merged(
        rt: Runtime, repo: Path, tmp_path: Path, model_server: ScriptedModelServer,
        github: FakeGitHub) -> None:
    def checks(full_name: str, sha: str) -> list[Check]:
        fixed = "return a + b" in (github.file_at(full_name, sha, "app.py") or "")
        return [Check("tests", "success" if fixed else "failure",
                      "" if fixed else "test_add: expected 3, got -1", in_progress_reads=1)]

    github.checks_by(checks)
    run_id = await finished_run(rt, model_server, "SCRIPT:sub",
                                s.write("app.py", "def add(a, b):\n    return a - b\n"))
    model_server.script("does not pass its checks", [
        s.write("app.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
                "    return a - b\n"), s.text("Fixed.")])

    entry = await ended(rt, await rt.merges.enqueue(run_id, actor="carol"))

    assert entry.state is MergeState.MERGED, entry.reason
    assert entry.check_fixes == 1 and entry.pull_request is not None
    told = [r for r in model_server.requests if "does not pass its checks" in r.all_text()]
    assert told and "expected 3, got -1" in told[0].last_user_text()
    pull = github.pulls(REPO)[0]
    assert pull.number == entry.pull_request and pull.merged
    # The pull request says what the run was, and GitHub's main has the fixed code.
    assert f"Gluon run `{run_id}`" in pull.body and "SCRIPT:sub please" in pull.body
    bare = tmp_path / "origin.git"
    assert "def sub" in git(bare, "show", "main:app.py")
    assert entry.merged_commit == git(bare, "rev-parse", "main")
    # The run is merged, its branch gone here and on GitHub, its worktree removed.
    run = await rt.runs.get(run_id)
    assert run.state is RunState.MERGED and not Path(run.cwd).exists()
    assert git(repo, "branch", "--list", "gluon/*") == ""
    assert git(bare, "branch", "--list", "gluon/*") == ""
    assert github.checked(REPO)[0] != github.checked(REPO)[-1]  # checked again after the fix


async def test_a_pull_request_closed_by_hand_cancels_its_entry(
        rt: Runtime, model_server: ScriptedModelServer, github: FakeGitHub) -> None:
    github.checks_by(lambda full_name, sha: [Check("tests", None)])  # never finishes
    run_id = await finished_run(rt, model_server, "SCRIPT:notes", s.write("NOTES.md", "n\n"))
    entry = await rt.merges.enqueue(run_id)
    await github.wait_for(lambda g: bool(g.pulls(REPO)), timeout=60)
    github.close_pull(REPO, github.pulls(REPO)[0].number)

    entry = await ended(rt, entry)

    assert entry.state is MergeState.CANCELLED
    assert "closed on GitHub" in entry.reason
    assert (await rt.runs.get(run_id)).state is RunState.REVIEW
