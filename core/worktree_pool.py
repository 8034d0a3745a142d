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
from pathlib import Path

from core import gitops

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
                await gitops.take_spare_worktree(repo, spare, target, branch, base_sha)
            except Exception as exc:
                log.warning("spare worktree %s unusable (%s); checking out anew", spare, exc)
                with contextlib.suppress(Exception):
                    await gitops.remove_spare_worktree(repo, spare)
                spare = None
        if spare is None:
            await gitops.create_worktree(repo, target, branch, base_sha)

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
                    await gitops.add_spare_worktree(repo, path, commit)
                except asyncio.CancelledError:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(gitops.remove_spare_worktree(repo, path))
                    raise
                except Exception as exc:
                    log.warning("could not make a spare worktree for %s: %s", project, exc)
                    return
                spares.append(path)

    async def adopt(self, project: str, repo: Path) -> None:
        """Take back the spares a previous Gluon left (they are registered and locked)."""
        folder = self.root / project
        if not folder.is_dir():
            return
        registered = {w.path for w in await gitops.list_worktrees(repo)}
        for path in sorted(folder.glob(f"{SPARE_PREFIX}*")):
            if path.resolve() in registered and len(self._spares.get(project, [])) < self.size:
                self._spares.setdefault(project, []).append(path)
            else:
                await gitops.remove_spare_worktree(repo, path)

    async def drop(self, project: str, repo: Path) -> None:
        """Remove a project's spares (the project is being removed)."""
        async with self._lock(project):
            for path in self._spares.pop(project, []):
                await gitops.remove_spare_worktree(repo, path)

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
