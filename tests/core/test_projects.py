"""core.projects.service through a real runtime: real git repositories, a real data dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.git import worktrees as git_worktrees
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import git, make_repo


async def add_live_run(rt: Runtime, project: str, run_id: str = "abcd1234") -> None:
    await rt.runs.store.insert(id=run_id, project=project, prompt="fix the tests",
                               model="sonnet", state=RunState.RUNNING, use_worktree=0,
                               cwd=str((await rt.projects.get(project)).path),
                               session_id="00000000-0000-0000-0000-000000000001")


async def actions(rt: Runtime) -> list[tuple[str, str, str]]:
    return [(e.action, e.target, e.outcome) for e in reversed(await rt.activity.recent())]


# -- add -------------------------------------------------------------------------------------------


async def test_a_project_is_named_after_its_folder_unless_a_name_is_given(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    project = await runtime.projects.add(None, str(repo))
    assert (project.name, project.path, project.trusted) == ("demo", str(repo), False)

    spaced = make_repo(tmp_path / "My Web App")
    assert (await runtime.projects.add(None, str(spaced))).name == "my-web-app"

    named = make_repo(tmp_path / "other")
    assert (await runtime.projects.add("backend", str(named), trusted=True)).trusted


async def test_adding_a_folder_inside_a_repository_registers_the_repository_root(
        runtime: Runtime, repo: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    project = await runtime.projects.add("api", str(sub))
    assert project.path == str(repo)


async def test_an_invalid_name_is_refused_with_what_a_valid_one_looks_like(
        runtime: Runtime, repo: Path) -> None:
    for bad in ("My App", "-api", "api/v2", "API", "", "x" * 65):
        with pytest.raises(InvalidInput) as caught:
            await runtime.projects.add(bad, str(repo))
        message = str(caught.value)
        assert repr(bad) in message
        assert "lowercase letters" in message and "'web-app'" in message
    assert await runtime.projects.all() == []


async def test_a_name_too_long_is_refused_with_the_limit_and_a_long_folder_gets_a_short_name(
        runtime: Runtime, tmp_path: Path) -> None:
    long = make_repo(tmp_path / ("service-" * 12))
    with pytest.raises(InvalidInput) as caught:
        await runtime.projects.add("a" * 70, str(long))
    assert "(70 characters)" in str(caught.value) and "1 to 64" in str(caught.value)
    project = await runtime.projects.add(None, str(long))
    assert len(project.name) <= 64 and project.name.startswith("service-service")
    assert not project.name.endswith("-")


async def test_a_folder_that_is_not_a_git_repository_is_refused_with_how_to_fix_it(
        runtime: Runtime, tmp_path: Path) -> None:
    plain = tmp_path / "notes"
    plain.mkdir()
    with pytest.raises(InvalidInput) as caught:
        await runtime.projects.add(None, str(plain))
    assert str(plain) in str(caught.value) and "git init" in str(caught.value)


async def test_a_missing_path_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    with pytest.raises(InvalidInput) as caught:
        await runtime.projects.add("ghost", str(missing))
    assert str(missing) in str(caught.value) and "does not exist" in str(caught.value)


async def test_a_name_already_taken_is_refused_with_how_to_free_it(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    await runtime.projects.add("api", str(repo))
    other = make_repo(tmp_path / "other")
    with pytest.raises(Conflict) as caught:
        await runtime.projects.add("api", str(other))
    assert "'api'" in str(caught.value) and "gluon project remove api" in str(caught.value)


async def test_the_same_repository_cannot_be_added_twice_under_another_name(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("api", str(repo))
    with pytest.raises(Conflict) as caught:
        await runtime.projects.add("api-again", str(repo / "."))
    assert "already registered as project 'api'" in str(caught.value)
    assert [p.name for p in await runtime.projects.all()] == ["api"]


# -- list, show ------------------------------------------------------------------------------------


async def test_projects_are_listed_by_name(runtime: Runtime, tmp_path: Path) -> None:
    for name in ("web", "api", "docs"):
        await runtime.projects.add(name, str(make_repo(tmp_path / name)))
    assert [p.name for p in await runtime.projects.all()] == ["api", "docs", "web"]


async def test_an_unknown_project_is_reported_with_the_known_ones(
        runtime: Runtime, repo: Path) -> None:
    with pytest.raises(NotFound, match="gluon project add"):
        await runtime.projects.get("api")
    await runtime.projects.add("demo", str(repo))
    with pytest.raises(NotFound) as caught:
        await runtime.projects.show("api")
    assert "'api'" in str(caught.value) and "known projects: demo" in str(caught.value)


async def test_show_reports_the_branch_and_whether_the_checkout_is_dirty(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    clean = await runtime.projects.show("demo")
    assert (clean.branch, clean.dirty, clean.upstream, clean.live_runs) == (
        "main", False, None, 0)
    assert clean.head == git(repo, "rev-parse", "HEAD")

    (repo / "notes.txt").write_text("work in progress\n")
    assert (await runtime.projects.show("demo")).dirty


async def test_show_counts_commits_ahead_of_and_behind_the_upstream(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    await runtime.projects.add("demo", str(repo))
    in_sync = await runtime.projects.show("demo")
    assert (in_sync.upstream, in_sync.ahead, in_sync.behind) == ("origin/main", 0, 0)

    teammate = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(origin), str(teammate))
    (teammate / "CHANGES.md").write_text("theirs\n")
    git(teammate, "add", "-A")
    git(teammate, "commit", "-q", "-m", "theirs")
    git(teammate, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q", "origin")
    for n in range(2):
        (repo / f"mine{n}.txt").write_text("mine\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"mine {n}")

    status = await runtime.projects.show("demo")
    assert (status.ahead, status.behind, status.dirty) == (2, 1, False)


async def test_show_counts_the_live_runs_of_the_project(runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await add_live_run(runtime, "demo")
    assert (await runtime.projects.show("demo")).live_runs == 1


# -- remove ----------------------------------------------------------------------------------------


async def test_removing_a_project_forgets_it_but_never_deletes_its_files(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    (repo / "uncommitted.txt").write_text("precious\n")
    removed = await runtime.projects.remove("demo")
    assert removed.name == "demo"
    assert await runtime.projects.all() == []
    assert (repo / "uncommitted.txt").read_text() == "precious\n"
    assert (repo / ".git").is_dir()
    assert git(repo, "log", "--format=%s") == "initial"
    # It can be added again afterwards.
    assert (await runtime.projects.add("demo", str(repo))).name == "demo"


async def test_a_project_with_a_live_run_cannot_be_removed(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await add_live_run(runtime, "demo", "feedbeef")
    with pytest.raises(Conflict) as caught:
        await runtime.projects.remove("demo")
    assert "'feedbeef'" in str(caught.value) and "cancel it first" in str(caught.value)
    assert [p.name for p in await runtime.projects.all()] == ["demo"]

    await runtime.runs.store.transition("feedbeef", RunState.CANCELLED, "test cancelled it")
    await runtime.projects.remove("demo")
    assert await runtime.projects.all() == []


# -- move ------------------------------------------------------------------------------------------


async def test_a_moved_repository_is_found_again_with_move_and_its_runs_keep_working(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    worktree = tmp_path / "worktrees" / "run1"
    base = await git_worktrees.create_worktree(repo, worktree, "gluon/run1", "main")
    await runtime.runs.store.insert(
        id="0000aaa1", project="demo", prompt="a", model="sonnet", state=RunState.REVIEW,
        use_worktree=1, cwd=str(worktree), branch="gluon/run1", base_branch="main",
        base_sha=base, session_id="s1")
    await runtime.runs.store.insert(
        id="0000aaa2", project="demo", prompt="b", model="sonnet", state=RunState.REVIEW,
        use_worktree=0, cwd=str(repo), base_sha=base, session_id="s2")

    moved = tmp_path / "src" / "demo-renamed"
    moved.parent.mkdir()
    shutil.move(repo, moved)
    with pytest.raises(Conflict) as caught:
        await runtime.projects.show("demo")
    assert f"was at {str(repo)!r}, which no longer exists" in str(caught.value)
    assert "`gluon project move demo NEW_PATH`" in str(caught.value)
    # Listing what the project did needs no folder.
    assert {r.id for r in await runtime.runs.find("demo")} == {"0000aaa1", "0000aaa2"}

    project = await runtime.projects.move("demo", str(moved / "."))
    assert project.path == str(moved)
    assert (await runtime.projects.get("demo")).path == str(moved)
    assert (await runtime.projects.show("demo")).branch == "main"
    # git's links between the moved repository and the run's worktree are repaired.
    (worktree / "new.txt").write_text("x\n")
    git(worktree, "add", "new.txt")
    git(worktree, "commit", "-q", "-m", "in the worktree")
    assert git(moved, "log", "-1", "--format=%s", "gluon/run1") == "in the worktree"
    assert (await runtime.runs.get("0000aaa2")).cwd == str(moved)
    assert (await runtime.runs.get("0000aaa1")).cwd == str(worktree)
    assert ("project.move", "demo", "ok") in await actions(runtime)


async def test_move_refuses_another_repository_a_taken_one_and_a_project_with_live_runs(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await add_live_run(runtime, "demo", "feedbeef")
    await runtime.runs.store.update("feedbeef", base_sha=git(repo, "rev-parse", "HEAD"))
    other = make_repo(tmp_path / "other")
    await runtime.projects.add("other", str(other))
    stranger = tmp_path / "stranger"  # a repository with a history of its own
    stranger.mkdir()
    git(stranger, "init", "-q", "-b", "main")
    (stranger / "notes.txt").write_text("a different history\n")
    git(stranger, "add", "notes.txt")
    git(stranger, "commit", "-q", "-m", "another repository")

    with pytest.raises(Conflict, match="already registered as project 'other'"):
        await runtime.projects.move("demo", str(other))
    with pytest.raises(Conflict, match="has live run 'feedbeef'; wait for it to end"):
        await runtime.projects.move("demo", str(stranger))
    await runtime.runs.store.transition("feedbeef", RunState.CANCELLED, "test cancelled it")
    with pytest.raises(InvalidInput) as caught:
        await runtime.projects.move("demo", str(stranger))
    assert "is not the repository of project 'demo'" in str(caught.value)
    with pytest.raises(InvalidInput, match="does not exist"):
        await runtime.projects.move("demo", str(tmp_path / "nowhere"))
    assert (await runtime.projects.get("demo")).path == str(repo)


# -- workspaces ------------------------------------------------------------------------------------


async def test_a_workspace_adds_every_repository_inside_and_skips_plain_folders(
        runtime: Runtime, tmp_path: Path) -> None:
    ws = tmp_path / "src"
    make_repo(ws / "api")
    make_repo(ws / "web")
    make_repo(ws / "clients" / "ios")
    (ws / "notes").mkdir()
    (ws / "notes" / "todo.txt").write_text("nothing here\n")

    added = await runtime.projects.add_workspace(str(ws))
    assert sorted(p.name for p in added) == ["api", "ios", "web"]
    assert all(p.workspace == str(ws) for p in await runtime.projects.all())
    assert {p.path for p in added} == {str(ws / "api"), str(ws / "web"),
                                       str(ws / "clients" / "ios")}


async def test_a_missing_workspace_folder_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        await runtime.projects.add_workspace(str(tmp_path / "nowhere"))


async def test_rescan_adds_only_the_repositories_created_since_the_last_scan(
        runtime: Runtime, tmp_path: Path) -> None:
    ws = tmp_path / "src"
    make_repo(ws / "api")
    await runtime.projects.add_workspace(str(ws))
    assert await runtime.projects.rescan() == []

    make_repo(ws / "worker")
    added = await runtime.projects.rescan()
    assert [p.name for p in added] == ["worker"]
    assert [p.name for p in await runtime.projects.all()] == ["api", "worker"]


async def test_a_repository_whose_name_is_taken_gets_a_numbered_name(
        runtime: Runtime, tmp_path: Path) -> None:
    await runtime.projects.add(None, str(make_repo(tmp_path / "elsewhere" / "api")))
    await runtime.projects.add("api-2", str(make_repo(tmp_path / "elsewhere" / "x")))
    ws = tmp_path / "src"
    make_repo(ws / "api")
    added = await runtime.projects.add_workspace(str(ws))
    assert [(p.name, p.path) for p in added] == [("api-3", str(ws / "api"))]


# -- activity --------------------------------------------------------------------------------------


async def test_every_add_and_remove_is_written_to_the_activity_log(
        runtime: Runtime, repo: Path, tmp_path: Path) -> None:
    await runtime.projects.add("demo", str(repo), actor="telegram:42")
    await runtime.projects.remove("demo", actor="telegram:42")
    ws = tmp_path / "src"
    make_repo(ws / "api")
    await runtime.projects.add_workspace(str(ws), actor="discord:7")

    assert await actions(runtime) == [
        ("project.add", "demo", "ok"), ("project.remove", "demo", "ok"),
        ("workspace.add", str(ws), "ok"), ("project.add", "api", "ok")]
    entries = list(reversed(await runtime.activity.recent()))
    assert [e.actor for e in entries] == ["telegram:42", "telegram:42", "discord:7", "rescan"]
    assert entries[0].detail == str(repo)
