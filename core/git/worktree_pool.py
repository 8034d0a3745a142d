"""Spare worktrees, so a run starts without waiting for a full checkout.

Checking out a worktree of a large repository takes as long as starting the agent. Gluon keeps
one spare worktree per project (``agents.spare_worktrees``), detached at the commit the last
run started from; a new run takes it over in milliseconds (a move and a new branch), and a new
spare is made in the background once that run's agent has started, so the checkout does not
compete with the agent's start. Spares live in ``worktrees/<project>/.spare-*`` and show as
locked in ``git worktree list``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from pathlib import Path

from core.errors import Conflict
from core.git import ops as gitops
from core.git import worktrees as git_worktrees

log = logging.getLogger(__name__)

SPARE_PREFIX = ".spare-"


class WorktreePool:
    def __init__(self, worktrees_dir: Path, size: int, refill_delay: float) -> None:
        self.root = worktrees_dir
        self.size = size
        self.refill_delay = refill_delay
        self._spares: dict[str, list[Path]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    async def checkout(self, project: str, repo: Path, target: Path, branch: str,
                       base_sha: str) -> None:
        """Make ``target`` a worktree on a new ``branch`` at ``base_sha``."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with self._lock(project):
            spares = self._spares.get(project, [])
            spare = spares.pop() if spares else None
        if spare is not None:
            try:
                await take_spare_worktree(repo, spare, target, branch, base_sha)
            except Exception as exc:
                log.warning("spare worktree %s unusable (%s); checking out anew", spare, exc)
                with contextlib.suppress(Exception):
                    await remove_spare_worktree(repo, spare)
                spare = None
        if spare is None:
            await git_worktrees.create_worktree(repo, target, branch, base_sha)

    def refill_later(self, project: str, repo: Path, commit: str) -> None:
        """Make spares at ``commit`` in the background, after ``refill_delay`` seconds (call it
        once an agent has started, so the checkout does not slow that start down)."""
        if self.size <= 0:
            return
        task = asyncio.create_task(self._refill(project, repo, commit),
                                   name=f"spare-worktree-{project}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refill(self, project: str, repo: Path, commit: str) -> None:
        await asyncio.sleep(self.refill_delay)
        async with self._lock(project):
            spares = self._spares.setdefault(project, [])
            while len(spares) < self.size:
                path = self.root / project / f"{SPARE_PREFIX}{secrets.token_hex(4)}"
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    await add_spare_worktree(repo, path, commit)
                except asyncio.CancelledError:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(remove_spare_worktree(repo, path))
                    raise
                except Exception as exc:
                    log.warning("could not make a spare worktree for %s: %s", project, exc)
                    return
                spares.append(path)

    async def adopt(self, project: str, repo: Path) -> None:
        """Take back the spares a previous Gluon left (they are registered and locked). A
        repository that is not there (moved) keeps its spares until it is back."""
        folder = self.root / project
        if not folder.is_dir() or not repo.is_dir():
            return
        registered = {w.path for w in await gitops.list_worktrees(repo)}
        for path in sorted(folder.glob(f"{SPARE_PREFIX}*")):
            if path.resolve() in registered and len(self._spares.get(project, [])) < self.size:
                self._spares.setdefault(project, []).append(path)
            else:
                await remove_spare_worktree(repo, path)

    async def drop(self, project: str, repo: Path) -> None:
        """Remove a project's spares (the project is being removed)."""
        async with self._lock(project):
            for path in self._spares.pop(project, []):
                await remove_spare_worktree(repo, path)

    async def settle(self) -> None:
        """Wait until the spares being made are ready."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def spares(self, project: str) -> list[Path]:
        return list(self._spares.get(project, []))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _lock(self, project: str) -> asyncio.Lock:
        return self._locks.setdefault(project, asyncio.Lock())


async def add_spare_worktree(repo: Path, path: Path, commit: str) -> None:
    """A detached, locked worktree at ``commit``, kept ready for a run to take over."""
    gitops._check_ref(commit, "commit")
    await gitops._git(repo, "worktree", "add", "--quiet", "--detach", "--lock", "--reason",
               "gluon spare", str(path), commit, time_limit=gitops.SLOW_TIMEOUT)


async def take_spare_worktree(repo: Path, spare: Path, target: Path, branch: str,
                              base_sha: str) -> None:
    """Turn a spare worktree into ``target`` on a new ``branch`` at ``base_sha``.

    Moving the worktree and pointing HEAD at a new branch costs milliseconds on any repository
    size, where checking out a new worktree rewrites every file.
    """
    gitops._check_ref(branch, "branch")
    if await gitops.branch_exists(repo, branch):
        raise Conflict(f"branch {branch!r} already exists in {str(repo)!r}")
    await gitops._git(repo, "worktree", "unlock", str(spare), ok=None)
    await gitops._git(repo, "worktree", "move", str(spare), str(target))
    if await gitops.head_sha(target) == base_sha:
        await gitops._git(repo, "branch", branch, base_sha)
        await gitops._git(target, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    else:
        await gitops._git(target, "checkout", "--quiet", "-b", branch, base_sha,
                   time_limit=gitops.SLOW_TIMEOUT)


async def remove_spare_worktree(repo: Path, spare: Path) -> None:
    """Remove a spare worktree, even a half-made one (its folder is Gluon's own)."""
    await gitops._git(repo, "worktree", "unlock", str(spare), ok=None)
    await git_worktrees.remove_worktree(repo, spare)
    await asyncio.to_thread(shutil.rmtree, spare, True)
