"""The git tools, through the in-memory MCP client, against real repositories (and a fake `gh`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from core.git import worktrees as git_worktrees
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import git, make_repo
from tests.mcp_tools.client import call, connected, error


async def add_run(rt: Runtime, repo: Path, run_id: str = "abc123",
                  state: RunState = RunState.REVIEW) -> Path:
    """A run row with its own worktree on branch gluon/<id>, as if an agent had worked there."""
    if not await rt.projects.all():
        await rt.projects.add("demo", str(repo))
    worktree = repo.parent / "worktrees" / run_id
    branch = f"gluon/{run_id}"
    base_sha = await git_worktrees.create_worktree(repo, worktree, branch, "main")
    await rt.runs.store.insert(
        id=run_id, project="demo", prompt="Make add() handle strings", model="sonnet",
        use_worktree=1, cwd=str(worktree), branch=branch, base_branch="main",
        base_sha=base_sha, session_id=f"session-{run_id}", state=state)
    return worktree


def with_origin(repo: Path, tmp_path: Path) -> Path:
    """A local bare clone as the repo's origin, with main tracking it."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to", "origin/main")
    return origin


def commit(cwd: Path, path: str, text: str, message: str) -> str:
    (cwd / path).write_text(text)
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


async def test_a_runs_commits_and_files_are_read_live_from_its_branch(
        runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    first = commit(worktree, "app.py", "def add(a, b):\n    return str(a) + str(b)\n", "strings")
    second = commit(worktree, "notes.md", "one\ntwo\n", "notes")
    async with connected(runtime) as client:
        commits = await call(client, "get_run_commits", run="abc")
        files = await call(client, "get_run_files", run="abc123")
    assert [(c["sha"], c["subject"], c["author"]) for c in commits["commits"]] == [
        (first, "strings", "Test User"), (second, "notes", "Test User")]
    assert all(c["timestamp"] > 0 for c in commits["commits"])
    assert {f["path"]: (f["status"], f["additions"], f["deletions"])
            for f in files["files"]} == {"app.py": ("M", 1, 1), "notes.md": ("A", 2, 0)}


async def test_git_status_lists_uncommitted_paths_and_the_distance_to_upstream(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    with_origin(repo, tmp_path)
    commit(repo, "local.txt", "x\n", "local work")
    (repo / "app.py").write_text("changed\n")
    (repo / "new.txt").write_text("new\n")
    await runtime.projects.add("demo", str(repo))
    async with connected(runtime) as client:
        status = await call(client, "get_git_status", project="demo")
    assert (status["branch"], status["dirty"], status["upstream"], status["ahead"],
            status["behind"]) == ("main", True, "origin/main", 1, 0)
    assert status["uncommitted"] == [{"path": "app.py", "status": " M"},
                                     {"path": "new.txt", "status": "??"}]
    assert status["truncated"] is False


async def test_git_status_stops_listing_at_two_hundred_paths(
        runtime: Runtime, repo: Path) -> None:
    for i in range(205):
        (repo / f"f{i:03}.txt").write_text("x\n")
    await runtime.projects.add("demo", str(repo))
    async with connected(runtime) as client:
        status = await call(client, "get_git_status", project="demo")
    assert len(status["uncommitted"]) == 200 and status["truncated"] is True


async def test_branches_are_listed_with_their_head_and_whether_they_are_merged(
        runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    head = commit(worktree, "x.txt", "x\n", "run work")
    git(repo, "branch", "gluon/merged")
    async with connected(runtime) as client:
        listed = await call(client, "list_branches", project="demo", prefix="gluon/")
        one = await call(client, "list_branches", project="demo", limit=1)
    assert listed["current"] == "main"
    by_name = {b["name"]: b for b in listed["branches"]}
    assert set(by_name) == {"gluon/abc123", "gluon/merged"}
    assert (by_name["gluon/abc123"]["head"], by_name["gluon/abc123"]["subject"],
            by_name["gluon/abc123"]["merged"]) == (head, "run work", False)
    assert by_name["gluon/merged"]["merged"] is True
    assert len(one["branches"]) == 1


async def test_conflicts_are_reported_without_touching_any_checkout(
        runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    async with connected(runtime) as client:
        assert (await call(client, "check_conflicts", run="abc123"))["clean"] is True
        commit(worktree, "app.py", "def add(a, b):\n    return a - b\n", "run side")
        main_head = commit(repo, "app.py", "def add(a, b):\n    return b + a\n", "main side")
        check = await call(client, "check_conflicts", run="abc123")
    assert (check["clean"], check["conflicts"], check["base_branch"]) == (
        False, ["app.py"], "main")
    assert git(repo, "rev-parse", "HEAD") == main_head
    assert git(repo, "status", "--porcelain") == ""


async def test_resolving_conflicts_resumes_the_run_with_a_rebase_instruction(
        runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    async with connected(runtime) as client:
        clean = await error(client, "resolve_conflicts", run="abc123")
        assert clean.endswith("merges cleanly into 'main'; nothing to resolve")
        commit(worktree, "app.py", "def add(a, b):\n    return a - b\n", "run side")
        commit(repo, "app.py", "def add(a, b):\n    return b + a\n", "main side")
        run = await call(client, "resolve_conflicts", run="abc123", instructions="keep main's")
    assert run["id"] == "abc123" and run["state"] != "review"
    # Resumed: from review back to the queue (the executor may have started it since).
    transitions = await runtime.runs.store.transitions("abc123")
    steps = [(t.from_state, t.to_state) for t in transitions]
    assert steps[steps.index((RunState.REVIEW, RunState.QUEUED)):][:2] in (
        [(RunState.REVIEW, RunState.QUEUED)], [(RunState.REVIEW, RunState.QUEUED),
                                              (RunState.QUEUED, RunState.RUNNING)])
    [resumed] = [e for e in await runtime.activity.recent() if e.action == "run.resume"]
    assert "Rebase your branch on main" in resumed.detail
    assert "app.py" in resumed.detail and resumed.detail.endswith("keep main's")


async def test_sync_fast_forwards_a_clean_checkout_to_its_upstream(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    origin = with_origin(repo, tmp_path)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    pushed = commit(other, "upstream.txt", "u\n", "upstream work")
    git(other, "push", "-q", "origin", "main")
    await runtime.projects.add("demo", str(repo))
    async with connected(runtime) as client:
        (repo / "scratch.txt").write_text("mine\n")
        dirty = await error(client, "sync_project", project="demo")
        assert "uncommitted changes; commit or stash them" in dirty
        (repo / "scratch.txt").unlink()
        synced = await call(client, "sync_project", project="demo")
        again = await call(client, "sync_project", project="demo")
        commit(repo, "mine.txt", "m\n", "local")
        commit(other, "more.txt", "m\n", "more upstream")
        git(other, "push", "-q", "origin", "main")
        diverged = await error(client, "sync_project", project="demo")
    assert (synced["after"], synced["updated"]) == (pushed, True)
    assert (again["after"], again["updated"]) == (pushed, False)
    assert "has diverged from 'origin/main'" in diverged and "git pull --rebase" in diverged


async def test_a_runs_branch_is_pushed_to_origin_with_an_upstream(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    worktree = await add_run(runtime, repo)
    head = commit(worktree, "x.txt", "x\n", "run work")
    async with connected(runtime) as client:
        missing = await error(client, "push_branch", run="abc123")
        assert missing.endswith("has no remote 'origin'; add one with "
                                "`git remote add origin URL`, then try again")
        origin = tmp_path / "origin.git"
        git(tmp_path, "init", "-q", "--bare", str(origin))
        git(repo, "remote", "add", "origin", str(origin))
        pushed = await call(client, "push_branch", run="abc123")
    assert (pushed["branch"], pushed["head"], pushed["remote"]) == ("gluon/abc123", head, "origin")
    assert git(origin, "rev-parse", "refs/heads/gluon/abc123") == head
    assert git(repo, "config", "branch.gluon/abc123.remote") == "origin"


FAKE_GH = """#!{python}
import json, sys
with open({log!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["pr", "create"]:
    print("https://github.com/acme/api/pull/7")
elif sys.argv[1:3] == ["pr", "view"]:
    print(json.dumps({{"number": 7, "url": "https://github.com/acme/api/pull/7",
                      "state": "OPEN", "mergeable": "MERGEABLE", "statusCheckRollup": [
                          {{"__typename": "CheckRun", "name": "tests", "status": "COMPLETED",
                           "conclusion": "SUCCESS"}}]}}))
else:
    sys.exit("unknown command")
"""


@pytest.fixture
def fake_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `gh` first on PATH that records its arguments (one JSON list a line) in the file
    returned."""
    log = tmp_path / "gh-calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable, log=str(log)))
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def gh_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_a_pull_request_is_opened_and_read_back_with_gh(
        runtime: Runtime, repo: Path, fake_gh: Path) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/acme/api.git")
    worktree = await add_run(runtime, repo)
    commit(worktree, "x.txt", "x\n", "run work")
    async with connected(runtime) as client:
        created = await call(client, "create_pr", run="abc123", draft=True)
        status = await call(client, "get_pr_status", run="abc123")
    create, view = gh_calls(fake_gh)
    assert create[:8] == ["pr", "create", "--head", "gluon/abc123", "--base", "main",
                          "--title", "Make add() handle strings"]
    assert create[8] == "--body" and "- run work (" in create[9] and create[10:] == ["--draft"]
    assert "- `x.txt` +1/-0 (new)" in create[9] and "Made by Gluon run `abc123`" in create[9]
    assert view == ["pr", "view", "gluon/abc123", "--json",
                    "number,url,state,mergeable,statusCheckRollup"]
    assert created["pull_request"]["number"] == 7
    assert created["pull_request"]["url"] == "https://github.com/acme/api/pull/7"
    pr = status["pull_request"]
    assert (pr["state"], pr["mergeable"]) == ("OPEN", "MERGEABLE")
    assert [(c["name"], c["conclusion"]) for c in pr["checks"]] == [("tests", "SUCCESS")]


async def test_pull_requests_need_an_origin_on_github(
        runtime: Runtime, repo: Path, fake_gh: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", str(make_repo(tmp_path / "elsewhere")))
    await add_run(runtime, repo)
    async with connected(runtime) as client:
        text = await error(client, "create_pr", run="abc123", title="t", body="b")
    assert "pull requests need a GitHub remote, but the origin of" in text
    assert "https://github.com/OWNER/REPO.git" in text
    assert not fake_gh.exists()


async def test_pull_requests_say_so_when_gh_is_not_installed(
        runtime: Runtime, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_git = tmp_path / "only-git"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(only_git))
    git(repo, "remote", "add", "origin", "https://github.com/acme/api.git")
    await add_run(runtime, repo)
    async with connected(runtime) as client:
        text = await error(client, "get_pr_status", run="abc123")
    assert text.endswith("the GitHub CLI `gh` is not installed on the Gluon host; install it "
                         "(https://cli.github.com) and run `gh auth login`")
