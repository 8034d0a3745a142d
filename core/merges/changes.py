"""What each run changes, cheaply: the paths its branch changed since it left its base branch,
plus, while its agent works, the paths its worktree has not committed yet.

No checkout and no merge: per project one ``git for-each-ref`` for the heads of the runs'
branches and of their bases, per live run one ``git status`` of its worktree, and a
``git diff --name-only`` only for a run whose head (or base) moved since the last look.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import GluonError
from core.git import listing
from core.git import ops as gitops
from core.models import Run
from core.projects.service import ProjectService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Committed:
    """The paths a run's branch changed, as of these heads of the branch and of its base."""

    head: str
    base: str
    paths: frozenset[str]


class ChangedFiles:
    """The changed paths of runs, with each branch's diff kept until its head moves."""

    def __init__(self, projects: ProjectService) -> None:
        self.projects = projects
        self._committed: dict[str, _Committed] = {}
        self.diffs = 0  # `git diff` commands run so far (the costly part)

    async def of(self, runs: Sequence[Run]) -> dict[str, frozenset[str]]:
        """The paths each run (with a branch of its own) changed, by run id; a run whose
        repository cannot be read counts as changing nothing, with a log line."""
        found: dict[str, frozenset[str]] = {}
        by_project: dict[str, list[Run]] = {}
        for run in runs:
            if run.branch and run.base_branch:
                by_project.setdefault(run.project, []).append(run)
        for project, group in by_project.items():
            try:
                repo = Path((await self.projects.get(project)).path)
                heads = await listing.branch_heads(
                    repo, {name for r in group for name in (r.branch, r.base_branch) if name})
            except GluonError as exc:
                log.warning("cannot see what the runs of %s change: %s", project, exc)
                continue
            for run in group:
                try:
                    found[run.id] = await self._paths(repo, run, heads)
                except GluonError as exc:
                    log.warning("cannot see what run %s changes: %s", run.id, exc)
        return found

    def forget(self, keep: Iterable[str]) -> None:
        """Drop what is known of runs other than ``keep`` (they ended or went)."""
        kept = set(keep)
        for run_id in [r for r in self._committed if r not in kept]:
            del self._committed[run_id]

    async def _paths(self, repo: Path, run: Run, heads: dict[str, str]) -> frozenset[str]:
        assert run.branch is not None and run.base_branch is not None
        paths = await self._committed_paths(repo, run, heads)
        worktree = Path(run.cwd)
        # A run in review had its leftovers committed when its agent stopped.
        if run.state.is_live and run.use_worktree and not run.worktree_removed \
                and worktree.is_dir():
            paths |= set(await gitops.uncommitted_paths(worktree, every_file=True))
        return frozenset(paths)

    async def _committed_paths(self, repo: Path, run: Run, heads: dict[str, str]) -> set[str]:
        assert run.branch is not None and run.base_branch is not None
        head = heads.get(run.branch)
        # A deleted base branch: the commit the run started from.
        base = heads.get(run.base_branch) or run.base_sha
        if head is None or base is None:  # a queued run's branch is made when it starts
            self._committed.pop(run.id, None)
            return set()
        known = self._committed.get(run.id)
        if known is None or (known.head, known.base) != (head, base):
            self.diffs += 1
            paths = frozenset(await listing.changed_paths(repo, base, head))
            known = self._committed[run.id] = _Committed(head, base, paths)
        return set(known.paths)
