"""Merging a run's branch into its base without ever leaving the user's checkout half-merged."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import Conflict
from core.git.ops import (
    DEFAULT_EMAIL,
    DEFAULT_NAME,
    SLOW_TIMEOUT,
    GitError,
    _branch_sha,
    _commit_sha,
    _git,
    _split_z,
    current_branch,
    head_sha,
    list_worktrees,
    repo_root,
)
from core.git.worktrees import remove_worktree


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    commit: str | None  # merge (or fast-forward) head on success
    conflicts: list[str]  # conflicting paths when merged is False


async def merge_branch(
    repo: Path,
    branch: str,
    into: str,
    message: str | None = None,
    author_name: str = DEFAULT_NAME,
    author_email: str = DEFAULT_EMAIL,
) -> MergeResult:
    """Merge ``branch`` into the local branch ``into`` of the repository whose checkout is ``repo``.

    When ``into`` is checked out at ``repo`` the merge happens there (a fast-forward when
    possible) and is refused if tracked files have uncommitted changes; untracked files are
    kept, and git refuses (a Conflict here) if the merge would overwrite one. Otherwise no
    checkout is touched: the result is computed by ``git merge-tree`` (or in a temporary
    worktree on git < 2.38) and ``into`` is moved to it. A conflicting merge changes nothing and
    lists the conflicting paths.
    """
    root = await repo_root(repo)
    theirs = await _commit_sha(root, branch, "branch")
    ours = await _branch_sha(root, into, "branch")
    message = message or f"Merge branch '{branch}' into {into}"
    identity = (author_name, author_email)
    if await current_branch(root) == into:
        return await _merge_in_checkout(root, theirs, message, identity)
    for worktree in await list_worktrees(root):
        if worktree.branch == into:
            raise Conflict(f"branch {into!r} is checked out in {str(worktree.path)!r}; merge "
                           "there, or switch that worktree to another branch and merge again")
    if await _is_ancestor(root, theirs, ours):
        return MergeResult(merged=True, commit=ours, conflicts=[])
    if await _is_ancestor(root, ours, theirs):
        new = theirs  # a fast-forward
    else:
        merge = (_merge_without_checkout if await _git_version(root) >= (2, 38)
                 else _merge_in_temporary_worktree)
        commit, conflicts = await merge(root, ours, theirs, message, identity)
        if commit is None:
            return MergeResult(merged=False, commit=None, conflicts=conflicts)
        new = commit
    # Passing the old value makes the update fail, not clobber, if someone moved `into` meanwhile.
    moved = await _git(root, "update-ref", "-m", message, f"refs/heads/{into}", new, ours,
                       ok=None)
    if moved.code != 0:
        raise Conflict(f"branch {into!r} changed while merging {branch!r}; merge again")
    return MergeResult(merged=True, commit=new, conflicts=[])


async def _merge_in_checkout(
    root: Path, theirs: str, message: str, identity: tuple[str, str]
) -> MergeResult:
    if await _merge_in_progress(root):
        raise Conflict(f"a merge is already in progress in {str(root)!r}; finish or abort it "
                       "(`git merge --abort`), then merge again")
    tracked = await _git(root, "status", "--porcelain=v2", "-z", "--untracked-files=no")
    if tracked.out:
        raise Conflict(f"{str(root)!r} has uncommitted changes; commit or stash them, "
                       "then merge again")
    result = await _git(root, "merge", "--ff", "--no-edit", "-m", message, theirs, ok=None,
                        identity=identity, time_limit=SLOW_TIMEOUT)
    if result.code == 0:
        return MergeResult(merged=True, commit=await head_sha(root), conflicts=[])
    if await _merge_in_progress(root):
        conflicts = await _unmerged_paths(root)
        await _git(root, "merge", "--abort", time_limit=SLOW_TIMEOUT)
        return MergeResult(merged=False, commit=None, conflicts=conflicts)
    in_the_way = [line.strip() for line in result.err.splitlines() if line.startswith("\t")]
    if "untracked working tree files would be overwritten" in result.err:
        raise Conflict(f"the merge would overwrite untracked files in {str(root)!r} "
                       f"({', '.join(in_the_way[:5])}); move them away, then merge again")
    raise GitError(["merge", theirs], root, result.code, result.err)


async def _merge_without_checkout(
    root: Path, ours: str, theirs: str, message: str, identity: tuple[str, str]
) -> tuple[str | None, list[str]]:
    """The merge commit of ``ours`` and ``theirs``, or None and the conflicting paths."""
    result = await _git(root, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z",
                        ours, theirs, ok=(0, 1), time_limit=SLOW_TIMEOUT)
    tree, *conflicts = _split_z(result.out)
    if result.code == 1:
        return None, list(dict.fromkeys(conflicts))
    commit = await _git(root, "commit-tree", tree, "-p", ours, "-p", theirs, "-m", message,
                        identity=identity)
    return commit.out.strip(), []


async def _merge_in_temporary_worktree(
    root: Path, ours: str, theirs: str, message: str, identity: tuple[str, str]
) -> tuple[str | None, list[str]]:
    """Like ``_merge_without_checkout``, for git before 2.38 (no ``merge-tree --write-tree``)."""
    scratch = Path(tempfile.mkdtemp(prefix="gluon-merge-"))
    worktree = scratch / "merge"
    try:
        await _git(root, "worktree", "add", "--quiet", "--detach", str(worktree), ours,
                   time_limit=SLOW_TIMEOUT)
        result = await _git(worktree, "merge", "--no-ff", "--no-edit", "-m", message, theirs,
                            ok=None, identity=identity, time_limit=SLOW_TIMEOUT)
        if result.code == 0:
            return await head_sha(worktree), []
        if await _merge_in_progress(worktree):
            return None, await _unmerged_paths(worktree)
        raise GitError(["merge", theirs], worktree, result.code, result.err)
    finally:
        await remove_worktree(root, worktree)
        shutil.rmtree(scratch, ignore_errors=True)


async def _is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    result = await _git(repo, "merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
    return result.code == 0


async def _merge_in_progress(worktree: Path) -> bool:
    result = await _git(worktree, "rev-parse", "--quiet", "--verify", "MERGE_HEAD", ok=(0, 1))
    return result.code == 0


async def _unmerged_paths(worktree: Path) -> list[str]:
    result = await _git(worktree, "diff", "--name-only", "--diff-filter=U", "--no-relative", "-z")
    return list(dict.fromkeys(_split_z(result.out)))


_versions: dict[str, tuple[int, int]] = {}


async def _git_version(cwd: Path) -> tuple[int, int]:
    executable = shutil.which("git") or "git"
    if executable not in _versions:
        result = await _git(cwd, "version")
        match = re.search(r"(\d+)\.(\d+)", result.out)
        _versions[executable] = (int(match[1]), int(match[2])) if match else (0, 0)
    return _versions[executable]


async def merge_check(repo: Path, branch: str, into: str) -> MergeResult:
    """Whether ``branch`` would merge cleanly into ``into`` right now, and the conflicting
    paths if not. Nothing is changed: no checkout, index or ref is touched (on git < 2.38 the
    merge is tried in a temporary worktree that is removed afterwards)."""
    root = await repo_root(repo)
    theirs = await _commit_sha(root, branch, "branch")
    ours = await _branch_sha(root, into, "branch")
    if await _is_ancestor(root, ours, theirs) or await _is_ancestor(root, theirs, ours):
        return MergeResult(merged=True, commit=None, conflicts=[])  # a fast-forward or no-op
    if await _git_version(root) < (2, 38):
        commit, conflicts = await _merge_in_temporary_worktree(
            root, ours, theirs, f"check {branch} into {into}", (DEFAULT_NAME, DEFAULT_EMAIL))
        return MergeResult(merged=commit is not None, commit=None, conflicts=conflicts)
    result = await _git(root, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z",
                        ours, theirs, ok=(0, 1), time_limit=SLOW_TIMEOUT)
    _tree, *conflicts = _split_z(result.out)
    return MergeResult(merged=result.code == 0, commit=None,
                       conflicts=list(dict.fromkeys(conflicts)) if result.code == 1 else [])
