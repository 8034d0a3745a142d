"""A run's worktree: checked out on a new branch, checked out again, removed (moved aside at
once, its files deleted in the background) and, after a restart, swept; and git's links to
the worktrees repaired when the repository moved. Git runs as :mod:`core.git.ops` runs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from core.errors import Conflict, InvalidInput
from core.git.ops import (
    SLOW_TIMEOUT,
    GitError,
    Worktree,
    _branch_sha,
    _check_ref,
    _commit_sha,
    _git,
    branch_exists,
    list_worktrees,
)


async def repair_worktrees(repo: Path) -> None:
    """After the repository at ``repo`` was moved: point its linked worktrees back at it."""
    await _git(repo, "worktree", "repair", time_limit=SLOW_TIMEOUT)


async def create_worktree(repo: Path, worktree: Path, branch: str, base: str) -> str:
    """Check out a new branch ``branch`` from ``base`` at ``worktree``; return the base sha."""
    _check_ref(branch, "branch")
    valid = await _git(repo, "check-ref-format", f"refs/heads/{branch}", ok=None)
    if valid.code != 0:
        raise InvalidInput(f"{branch!r} is not a valid branch name; "
                           "use letters, digits, '-', '_' and '/' only")
    if await branch_exists(repo, branch):
        raise Conflict(f"branch {branch!r} already exists in {str(repo)!r}; "
                       "pick another name or delete that branch first")
    base_sha = await _commit_sha(repo, base, "base")
    # Checked before git runs: a failing `worktree add -b` would leave the new branch behind.
    if await asyncio.to_thread(_is_occupied, worktree):
        raise Conflict(f"{str(worktree)!r} already exists and is not empty; "
                       "remove it or pick another worktree path")
    await _git(repo, "worktree", "add", "--quiet", "-b", branch, str(worktree), base_sha,
               time_limit=SLOW_TIMEOUT)
    return base_sha


async def add_worktree(repo: Path, worktree: Path, branch: str) -> None:
    """Check out an existing ``branch`` at ``worktree`` (a run's worktree made again)."""
    await _branch_sha(repo, branch, "branch")
    if await asyncio.to_thread(_is_occupied, worktree):
        raise Conflict(f"{str(worktree)!r} already exists and is not empty; "
                       "remove it or pick another worktree path")
    await _git(repo, "worktree", "prune")
    await _git(repo, "worktree", "add", "--quiet", str(worktree), branch,
               time_limit=SLOW_TIMEOUT)


def _is_occupied(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _is_registered(worktrees: list[Worktree], path: Path) -> bool:
    target = path.resolve()
    return any(w.path == target for w in worktrees)


async def remove_worktree(repo: Path, worktree: Path) -> None:
    """Remove a worktree and its files, even with uncommitted changes; a missing one is fine.

    Only registered worktrees are deleted; a plain folder at ``worktree`` is left alone.
    """
    if _is_registered(await list_worktrees(repo), worktree) and not _move_aside(worktree):
        await _git(repo, "worktree", "remove", "--force", str(worktree), ok=None,
                   time_limit=SLOW_TIMEOUT)
    await _git(repo, "worktree", "prune")
    if _is_registered(await list_worktrees(repo), worktree):
        result = await _git(repo, "worktree", "remove", "--force", str(worktree), ok=None)
        raise GitError(["worktree", "remove", "--force", str(worktree)], repo, result.code,
                       result.err)


_deleting: set[asyncio.Task[None]] = set()


def _move_aside(worktree: Path) -> bool:
    """Rename an unlocked worktree out of the way (instant, on the same file system) and delete
    its files in the background: removing a large checkout takes seconds that nobody needs to
    wait for. ``git worktree prune`` then forgets it. False when it must be removed in place
    (locked, or not a folder of its own)."""
    try:
        admin = Path((worktree / ".git").read_text().removeprefix("gitdir:").strip())
    except (OSError, ValueError):
        return False
    if not admin.is_dir() or (admin / "locked").exists():
        return False
    aside = worktree.with_name(f".{worktree.name}.removing-{os.urandom(4).hex()}")
    try:
        worktree.rename(aside)
    except OSError:
        return False
    task = asyncio.get_running_loop().create_task(
        asyncio.to_thread(shutil.rmtree, aside, ignore_errors=True))
    _deleting.add(task)
    task.add_done_callback(_deleting.discard)
    return True


def sweep_removed(folder: Path) -> None:
    """Delete what a worktree moved aside left behind when its Gluon stopped before the files
    were gone (at the next start)."""
    for leftover in folder.glob("*/.*.removing-*"):
        shutil.rmtree(leftover, ignore_errors=True)
