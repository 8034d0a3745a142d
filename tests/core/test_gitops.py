"""core.git.ops against real git repositories in temporary folders."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.git import merge as git_merge
from core.git import ops as gitops
from core.git import worktrees as git_worktrees

# The tests' own identity and config: setup commits must not depend on the machine's git config.
IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.com")


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    done = subprocess.run(["git", *IDENTITY, *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def write(path: Path, text: str | bytes, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if executable:
        path.chmod(0o755)


def read(path: Path) -> str:
    return path.read_text()


def exists(path: Path) -> bool:
    return path.exists()


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    write(repo / name, text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of a checkout outside .git, with its content."""
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def parents(repo: Path, ref: str) -> list[str]:
    return git(repo, "rev-list", "--parents", "-n", "1", ref).split()[1:]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit_file(path, "README.md", "hello\n", "initial")
    return path


@pytest.fixture
def feature(repo: Path) -> str:
    """A branch `feature` one commit ahead of main, adding feature.py; main stays checked out."""
    git(repo, "switch", "-q", "-c", "feature")
    sha = commit_file(repo, "feature.py", "print('feature')\n", "add feature")
    git(repo, "switch", "-q", "main")
    return sha


# Worktrees


async def test_create_worktree_branches_from_base_and_leaves_the_users_checkout_untouched(
    repo: Path, tmp_path: Path
) -> None:
    write(repo / "draft.txt", "the user's work in progress\n")
    before = snapshot(repo)
    base = git(repo, "rev-parse", "HEAD")
    worktree = tmp_path / "worktrees" / "run1"

    assert await git_worktrees.create_worktree(repo, worktree, "gluon/run1", "main") == base

    assert await gitops.current_branch(worktree) == "gluon/run1"
    assert await gitops.head_sha(worktree) == base
    assert read(worktree / "README.md") == "hello\n"
    assert not exists(worktree / "draft.txt")
    assert snapshot(repo) == before
    assert await gitops.current_branch(repo) == "main"


async def test_two_worktrees_are_independent(repo: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    await git_worktrees.create_worktree(repo, one, "gluon/one", "main")
    await git_worktrees.create_worktree(repo, two, "gluon/two", "main")

    write(one / "only-in-one.txt", "1\n")
    await gitops.commit_all(one, "work in one")

    assert not exists(two / "only-in-one.txt")
    assert not (await gitops.repo_status(two)).dirty
    assert await gitops.head_sha(two) == await gitops.head_sha(repo, "main")
    assert await gitops.head_sha(one) != await gitops.head_sha(two)


async def test_create_worktree_accepts_a_commit_sha_as_base(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    commit_file(repo, "later.txt", "later\n", "later")

    assert await git_worktrees.create_worktree(repo, tmp_path / "wt", "gluon/old", first) == first
    assert not exists(tmp_path / "wt" / "later.txt")


async def test_create_worktree_refuses_a_branch_that_already_exists(
    repo: Path, tmp_path: Path, feature: str
) -> None:
    with pytest.raises(Conflict, match="branch 'feature' already exists"):
        await git_worktrees.create_worktree(repo, tmp_path / "wt", "feature", "main")
    assert not exists(tmp_path / "wt")


async def test_create_worktree_from_a_missing_base_says_how_to_pick_one(
    repo: Path, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match=r"base 'develop' .*`git branch` lists them"):
        await git_worktrees.create_worktree(repo, tmp_path / "wt", "gluon/x", "develop")
    assert not await gitops.branch_exists(repo, "gluon/x")


async def test_create_worktree_refuses_an_occupied_folder_and_leaves_no_branch_behind(
    repo: Path, tmp_path: Path
) -> None:
    write(tmp_path / "wt" / "something.txt", "already here\n")
    with pytest.raises(Conflict, match="already exists and is not empty"):
        await git_worktrees.create_worktree(repo, tmp_path / "wt", "gluon/x", "main")
    assert not await gitops.branch_exists(repo, "gluon/x")


async def test_remove_worktree_is_idempotent(repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    await git_worktrees.create_worktree(repo, worktree, "gluon/x", "main")
    write(worktree / "uncommitted.txt", "left behind\n")

    await git_worktrees.remove_worktree(repo, worktree)
    await git_worktrees.remove_worktree(repo, worktree)

    assert not exists(worktree)
    assert [w.path for w in await gitops.list_worktrees(repo)] == [repo]
    assert await gitops.branch_exists(repo, "gluon/x")


async def test_remove_worktree_forgets_a_worktree_whose_folder_was_deleted(
    repo: Path, tmp_path: Path
) -> None:
    worktree = tmp_path / "wt"
    await git_worktrees.create_worktree(repo, worktree, "gluon/x", "main")
    shutil.rmtree(worktree)

    await git_worktrees.remove_worktree(repo, worktree)

    assert len(await gitops.list_worktrees(repo)) == 1
    await gitops.delete_branch(repo, "gluon/x")  # no longer "checked out" anywhere


async def test_a_removed_worktree_is_gone_at_once_and_its_files_are_deleted_after(
        repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "worktrees" / "demo" / "run"
    await git_worktrees.create_worktree(repo, worktree, "gluon/x", "main")
    write(worktree / "big" / "file.txt", "x\n")

    await git_worktrees.remove_worktree(repo, worktree)

    assert not exists(worktree)
    assert [w.path for w in await gitops.list_worktrees(repo)] == [repo]
    await gitops.delete_branch(repo, "gluon/x")  # not checked out anywhere any more
    await asyncio.gather(*git_worktrees._deleting)
    assert list(worktree.parent.iterdir()) == []  # the files moved aside are deleted too
    # What a Gluon stopped mid-deletion left is swept at the next start.
    (worktree.parent / ".run.removing-0a1b2c3d" / "deep").mkdir(parents=True)
    git_worktrees.sweep_removed(tmp_path / "worktrees")
    assert list(worktree.parent.iterdir()) == []


async def test_a_locked_worktree_is_not_moved_aside(repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    await git_worktrees.create_worktree(repo, worktree, "gluon/x", "main")
    git(repo, "worktree", "lock", str(worktree))

    with pytest.raises(gitops.GitError, match="locked"):
        await git_worktrees.remove_worktree(repo, worktree)

    assert exists(worktree / "README.md")
    assert [p.name for p in tmp_path.iterdir() if "removing" in p.name] == []


# The safety-net commit


async def test_commit_all_commits_leftovers_and_returns_none_when_clean(
    repo: Path, tmp_path: Path
) -> None:
    worktree = tmp_path / "wt"
    await git_worktrees.create_worktree(repo, worktree, "gluon/x", "main")
    write(worktree / "README.md", "hello, world\n")
    write(worktree / "src" / "new.py", "x = 1\n")

    sha = await gitops.commit_all(worktree, "Leftovers of run x")

    assert sha == git(worktree, "rev-parse", "HEAD")
    assert git(worktree, "log", "-1", "--format=%an <%ae>|%s") == (
        "Gluon <gluon@localhost>|Leftovers of run x")
    assert git(worktree, "status", "--porcelain") == ""
    assert await gitops.commit_all(worktree, "Leftovers of run x") is None
    assert git(worktree, "rev-parse", "HEAD") == sha


async def test_commit_all_uses_the_identity_it_is_given(repo: Path) -> None:
    write(repo / "notes.txt", "n\n")
    await gitops.commit_all(repo, "notes", author_name="Ada", author_email="ada@example.com")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn") == "Ada <ada@example.com>|Ada"


async def test_commit_all_never_adds_ignored_files(repo: Path) -> None:
    commit_file(repo, ".gitignore", "*.log\nbuild/\n", "ignore logs and builds")
    write(repo / "app.log", "noise\n")
    write(repo / "build" / "out.bin", b"\x00\x01")
    write(repo / "src" / "main.py", "print()\n")

    await gitops.commit_all(repo, "leftovers")

    assert git(repo, "ls-files").splitlines() == [".gitignore", "README.md", "src/main.py"]
    assert exists(repo / "app.log")


# Review data


async def test_commits_between_lists_the_branch_commits_oldest_first(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "feature")
    first = commit_file(repo, "a.txt", "a\n", "first step")
    second = commit_file(repo, "b.txt", "b\n", "second step")

    commits = await gitops.commits_between(repo, "main", "feature")

    assert [(c.sha, c.subject, c.author) for c in commits] == [
        (first, "first step", "Test User"), (second, "second step", "Test User")]
    assert commits[0].timestamp == int(git(repo, "log", "-1", "--format=%at", first))
    assert await gitops.commits_between(repo, "feature", "main") == []


async def test_changed_files_counts_lines_against_the_fork_point(repo: Path) -> None:
    commit_file(repo, "old.txt", "old\n", "old file")
    commit_file(repo, "moved.txt", "".join(f"line {i}\n" for i in range(20)), "to be moved")
    git(repo, "switch", "-q", "-c", "feature")
    write(repo / "new.py", "a = 1\nb = 2\nc = 3\n")
    write(repo / "README.md", "hello, world\n")
    write(repo / "logo.png", b"\x89PNG\x00\x00binary")
    git(repo, "rm", "-q", "old.txt")
    git(repo, "mv", "moved.txt", "renamed.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature work")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "main-only.txt", "moved on\n", "main moves on")

    files = {f.path: f for f in await gitops.changed_files(repo, "main", "feature")}

    assert files == {
        "new.py": gitops.ChangedFile("new.py", "A", 3, 0),
        "README.md": gitops.ChangedFile("README.md", "M", 1, 1),
        "logo.png": gitops.ChangedFile("logo.png", "A", 0, 0),
        "old.txt": gitops.ChangedFile("old.txt", "D", 0, 1),
        "renamed.txt": gitops.ChangedFile("renamed.txt", "R", 0, 0, old_path="moved.txt"),
    }


async def test_file_diff_shows_a_unified_diff_of_one_file_or_of_all(
    repo: Path, feature: str
) -> None:
    commit_file(repo, "main-only.txt", "moved on\n", "main moves on")
    git(repo, "switch", "-q", "feature")
    commit_file(repo, "README.md", "hello, world\n", "greet the world")

    one = await gitops.file_diff(repo, "main", "feature", "README.md")
    everything = await gitops.file_diff(repo, "main", "feature")

    assert one.startswith("diff --git a/README.md b/README.md\n")
    assert "-hello\n+hello, world\n" in one
    assert "feature.py" not in one
    assert "+++ b/feature.py" in everything and "main-only.txt" not in everything


async def test_revisions_that_look_like_options_are_refused(repo: Path) -> None:
    with pytest.raises(InvalidInput, match="not a valid git revision"):
        await gitops.file_diff(repo, "--output=/tmp/pwned", "main")


async def test_head_sha_of_an_unknown_revision_is_not_found(repo: Path) -> None:
    with pytest.raises(NotFound, match="'nope' is not a branch or commit"):
        await gitops.head_sha(repo, "nope")


async def test_unexpected_git_failures_carry_the_command_and_stderr(repo: Path) -> None:
    git(repo, "switch", "-q", "--orphan", "unrelated")
    commit_file(repo, "other.txt", "x\n", "unrelated history")

    with pytest.raises(gitops.GitError) as caught:
        await gitops.changed_files(repo, "main", "unrelated")

    assert caught.value.command[:2] == ["git", "diff"]
    assert "no merge base" in caught.value.stderr
    assert "no merge base" in str(caught.value)


# Merging


async def test_merge_fast_forwards_the_checked_out_branch(repo: Path, feature: str) -> None:
    result = await git_merge.merge_branch(repo, "feature", "main")

    assert result == git_merge.MergeResult(merged=True, commit=feature, conflicts=[])
    assert git(repo, "rev-parse", "main") == feature
    assert read(repo / "feature.py") == "print('feature')\n"
    assert git(repo, "status", "--porcelain") == ""


async def test_merge_of_diverged_branches_makes_a_merge_commit(repo: Path, feature: str) -> None:
    main_before = commit_file(repo, "main.txt", "main work\n", "main work")

    result = await git_merge.merge_branch(repo, "feature", "main", "Merge run abc")

    assert result.merged and result.commit == git(repo, "rev-parse", "HEAD")
    assert parents(repo, "HEAD") == [main_before, feature]
    assert git(repo, "log", "-1", "--format=%s|%an") == "Merge run abc|Gluon"
    assert exists(repo / "feature.py") and exists(repo / "main.txt")
    assert git(repo, "status", "--porcelain") == ""


async def test_merging_an_already_merged_branch_changes_nothing(repo: Path, feature: str) -> None:
    await git_merge.merge_branch(repo, "feature", "main")
    again = await git_merge.merge_branch(repo, "feature", "main")
    assert again == git_merge.MergeResult(merged=True, commit=feature, conflicts=[])


async def test_merge_refuses_when_the_base_checkout_is_dirty(repo: Path, feature: str) -> None:
    write(repo / "README.md", "unsaved edit\n")
    before, head = snapshot(repo), git(repo, "rev-parse", "HEAD")

    with pytest.raises(Conflict, match="has uncommitted changes; commit or stash them, then "
                                       "merge again"):
        await git_merge.merge_branch(repo, "feature", "main")

    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head


async def test_merge_keeps_untracked_files_that_do_not_collide(repo: Path, feature: str) -> None:
    write(repo / "notes.txt", "mine\n")
    assert (await git_merge.merge_branch(repo, "feature", "main")).merged
    assert read(repo / "notes.txt") == "mine\n"


async def test_merge_refuses_to_overwrite_an_untracked_file(repo: Path, feature: str) -> None:
    write(repo / "feature.py", "the user's own feature.py\n")
    before, head = snapshot(repo), git(repo, "rev-parse", "HEAD")

    with pytest.raises(Conflict, match=r"would overwrite untracked files .*\(feature.py\)"):
        await git_merge.merge_branch(repo, "feature", "main")

    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head


async def test_merge_conflict_reports_the_files_and_leaves_the_checkout_clean_and_unchanged(
    repo: Path,
) -> None:
    git(repo, "switch", "-q", "-c", "feature")
    commit_file(repo, "README.md", "feature's hello\n", "feature edits README")
    commit_file(repo, "clean.txt", "no conflict here\n", "feature adds a file")
    git(repo, "switch", "-q", "main")
    head = commit_file(repo, "README.md", "main's hello\n", "main edits README")
    write(repo / "notes.txt", "untracked, mine\n")
    before = snapshot(repo)

    result = await git_merge.merge_branch(repo, "feature", "main")

    assert result == git_merge.MergeResult(merged=False, commit=None, conflicts=["README.md"])
    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == "?? notes.txt"


async def test_merge_into_a_branch_that_is_not_checked_out_does_not_touch_the_users_checkout(
    repo: Path, feature: str
) -> None:
    main_before = commit_file(repo, "main.txt", "main work\n", "main work")
    git(repo, "switch", "-q", "-c", "user-topic")
    write(repo / "README.md", "the user's unsaved edit\n")
    before = snapshot(repo)

    result = await git_merge.merge_branch(repo, "feature", "main", "Merge run abc")

    assert result.merged and result.commit == git(repo, "rev-parse", "main")
    assert parents(repo, "main") == [main_before, feature]
    assert git(repo, "ls-tree", "--name-only", "main").splitlines() == [
        "README.md", "feature.py", "main.txt"]
    assert git(repo, "log", "-1", "--format=%s|%an", "main") == "Merge run abc|Gluon"
    assert snapshot(repo) == before
    assert await gitops.current_branch(repo) == "user-topic"


async def test_merge_into_a_branch_that_is_not_checked_out_can_fast_forward(
    repo: Path, feature: str
) -> None:
    git(repo, "switch", "-q", "--detach")
    result = await git_merge.merge_branch(repo, "feature", "main")
    assert result == git_merge.MergeResult(merged=True, commit=feature, conflicts=[])
    assert git(repo, "rev-parse", "main") == feature
    assert not exists(repo / "feature.py")


async def test_a_conflicting_merge_into_a_branch_that_is_not_checked_out_moves_nothing(
    repo: Path,
) -> None:
    git(repo, "switch", "-q", "-c", "feature")
    commit_file(repo, "README.md", "feature's hello\n", "feature edits README")
    git(repo, "switch", "-q", "main")
    main_before = commit_file(repo, "README.md", "main's hello\n", "main edits README")
    git(repo, "switch", "-q", "-c", "user-topic")

    result = await git_merge.merge_branch(repo, "feature", "main")

    assert result == git_merge.MergeResult(merged=False, commit=None, conflicts=["README.md"])
    assert git(repo, "rev-parse", "main") == main_before


async def test_merge_into_a_branch_checked_out_in_another_worktree_is_refused(
    repo: Path, tmp_path: Path, feature: str
) -> None:
    git(repo, "switch", "-q", "--detach")
    git(repo, "worktree", "add", "-q", str(tmp_path / "other"), "main")
    with pytest.raises(Conflict, match=r"branch 'main' is checked out in .*other"):
        await git_merge.merge_branch(repo, "feature", "main")


async def test_the_temporary_worktree_merge_for_old_git_matches_and_cleans_up(
    repo: Path,
) -> None:
    git(repo, "switch", "-q", "-c", "feature")
    feature = commit_file(repo, "README.md", "feature's hello\n", "feature edits README")
    git(repo, "switch", "-q", "main")
    side = commit_file(repo, "side.txt", "side\n", "main adds a file")
    clash = commit_file(repo, "README.md", "main's hello\n", "main edits README")
    identity = ("Gluon", "gluon@localhost")

    merged, none = await git_merge._merge_in_temporary_worktree(repo, side, feature, "m", identity)
    failed, conflicts = await git_merge._merge_in_temporary_worktree(repo, clash, feature, "m",
                                                                  identity)

    assert merged is not None and none == []
    assert parents(repo, merged) == [side, feature]
    assert (failed, conflicts) == (None, ["README.md"])
    assert len(await gitops.list_worktrees(repo)) == 1


# Branches


async def test_delete_branch_removes_a_merged_branch(repo: Path, feature: str) -> None:
    await git_merge.merge_branch(repo, "feature", "main")
    await gitops.delete_branch(repo, "feature")
    assert not await gitops.branch_exists(repo, "feature")


async def test_delete_branch_keeps_unmerged_work_unless_forced(repo: Path, feature: str) -> None:
    with pytest.raises(Conflict, match="'feature' has commits that are not merged"):
        await gitops.delete_branch(repo, "feature")
    assert await gitops.branch_exists(repo, "feature")

    await gitops.delete_branch(repo, "feature", force=True)
    assert not await gitops.branch_exists(repo, "feature")


async def test_delete_branch_of_a_missing_or_checked_out_branch_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match="branch 'nope' does not exist"):
        await gitops.delete_branch(repo, "nope")
    await git_worktrees.create_worktree(repo, tmp_path / "wt", "gluon/x", "main")
    with pytest.raises(Conflict, match="'gluon/x' is checked out in"):
        await gitops.delete_branch(repo, "gluon/x", force=True)


# Status and discovery


async def test_repo_status_reports_dirty_and_ahead_behind_against_origin(
    repo: Path, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")

    clean = await gitops.repo_status(repo)
    assert clean == gitops.RepoStatus(branch="main", head=git(repo, "rev-parse", "HEAD"),
                                      dirty=False, upstream="origin/main", ahead=0, behind=0)

    commit_file(repo, "pushed.txt", "p\n", "pushed elsewhere")
    git(repo, "push", "-q", "origin", "main")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    local = commit_file(repo, "local.txt", "l\n", "local only")
    write(repo / "untracked.txt", "u\n")

    status = await gitops.repo_status(repo)
    assert status == gitops.RepoStatus(branch="main", head=local, dirty=True,
                                       upstream="origin/main", ahead=1, behind=1)


async def test_repo_status_counts_tracked_edits_as_dirty_but_not_ignored_files(
    repo: Path,
) -> None:
    commit_file(repo, ".gitignore", "*.log\n", "ignore logs")
    write(repo / "debug.log", "noise\n")
    assert not (await gitops.repo_status(repo)).dirty
    write(repo / "README.md", "edited\n")
    assert (await gitops.repo_status(repo)).dirty


async def test_repo_status_of_a_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "switch", "-q", "--detach")
    status = await gitops.repo_status(repo)
    assert (status.branch, status.upstream, status.head) == (
        None, None, git(repo, "rev-parse", "HEAD"))
    assert await gitops.current_branch(repo) is None


async def test_discover_repos_finds_repos_and_skips_plain_folders(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    for name in ("api", "libs/core", "deep/er/still", ".hidden", "api/vendored"):
        (workspace / name).mkdir(parents=True)
        git(workspace / name, "init", "-q", "-b", "main")
    (workspace / "notes").mkdir()
    write(workspace / "todo.txt", "a file, not a folder\n")

    assert await gitops.discover_repos(workspace) == [workspace / "api", workspace / "libs/core"]
    assert await gitops.discover_repos(workspace, max_depth=3) == [
        workspace / "api", workspace / "deep/er/still", workspace / "libs/core"]
    assert await gitops.discover_repos(workspace / "api") == [workspace / "api"]


async def test_repo_root_of_a_plain_folder_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        await gitops.repo_root(tmp_path)
    assert str(caught.value) == (f"{str(tmp_path)!r} is not a git repository; run `git init` "
                                 "there or pass the repository's path")
    assert not await gitops.is_git_repo(tmp_path)
    assert not await gitops.is_git_repo(tmp_path / "missing")


async def test_repo_root_of_a_subfolder_is_the_top_of_the_checkout(repo: Path) -> None:
    (repo / "src" / "pkg").mkdir(parents=True)
    assert await gitops.repo_root(repo / "src" / "pkg") == repo
    assert await gitops.is_git_repo(repo / "src")


# Isolation from the user's environment and config


async def test_a_git_call_past_its_time_limit_is_stopped_and_reported(repo: Path) -> None:
    with pytest.raises(gitops.GitError, match="timed out") as caught:
        await gitops._git(repo, "status", time_limit=0)
    assert caught.value.returncode is None


async def test_user_config_hooks_and_git_variables_cannot_derail_gluon(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit_file(repo, ".gitignore", ".githooks/\n", "ignore hooks")
    git(repo, "switch", "-q", "-c", "topic")
    topic = commit_file(repo, "topic.txt", "t\n", "topic")
    git(repo, "switch", "-q", "main")
    hook = "#!/bin/sh\ntouch \"$(git rev-parse --show-toplevel)/hook-ran\"\nexit 1\n"
    for name in ("pre-commit", "commit-msg", "pre-merge-commit", "post-merge"):
        write(repo / ".githooks" / name, hook, executable=True)
    for key, value in [("core.hooksPath", ".githooks"), ("commit.gpgSign", "true"),
                       ("merge.ff", "false"), ("color.ui", "always"),
                       ("diff.external", "false"), ("diff.noprefix", "true")]:
        git(repo, "config", key, value)
    monkeypatch.setenv("GIT_DIR", "/nonexistent")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")

    result = await git_merge.merge_branch(repo, "topic", "main")
    write(repo / "left.txt", "leftover\n")
    sha = await gitops.commit_all(repo, "safety net")
    diff = await gitops.file_diff(repo, "main~1", "main", "left.txt")

    assert result.commit == topic  # fast-forwarded despite merge.ff=false
    assert sha is not None and git(repo, "log", "-1", "--format=%an", sha) == "Gluon"
    assert not exists(repo / "hook-ran")
    assert diff.startswith("diff --git a/left.txt b/left.txt\n") and "\x1b[" not in diff
