"""Reviewing a finished run: its diff, merging its branch, closing it, cleaning up worktrees."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pydantic import BaseModel

from core.errors import Conflict
from core.git import merge as git_merge
from core.git import ops as gitops
from core.git import worktrees as git_worktrees
from core.models import Run
from core.runs.service import RunManager
from core.types import RunId, RunState

log = logging.getLogger(__name__)


class MergeOutcome(BaseModel):
    run: Run
    merged: bool
    commit: str | None
    conflicts: list[str]
    message: str


class Review:
    def __init__(self, runs: RunManager) -> None:
        self.runs = runs

    async def diff(self, run_id: str, path: str | None = None) -> str:
        run = await self.runs.get(run_id)
        repo, head = await self._repo_and_head(run)
        assert run.base_sha is not None
        return await gitops.file_diff(repo, run.base_sha, head, path)

    async def _repo_and_head(self, run: Run) -> tuple[Path, str]:
        project = await self.runs.projects.get(run.project)
        if not run.base_sha:
            raise Conflict(f"run {run.id!r} has no base commit to compare with")
        if run.branch:
            return Path(project.path), run.branch
        return Path(project.path), "HEAD"

    async def mergeable(self, run_id: str) -> Run:
        """The run, if it can be merged; else the Conflict that says why not."""
        run = await self.runs.get(run_id)
        if not run.branch or not run.base_branch:
            raise Conflict(f"run {run.id!r} worked without a worktree; its changes are already "
                           "in the checkout")
        if run.state is not RunState.REVIEW:
            hint = ("wait for it to finish" if run.state.is_live else
                    f"resume it with `gluon resume {run.id} \"...\"` first")
            raise Conflict(f"run {run.id!r} is {run.state}; only runs in review can be "
                           f"merged ({hint})")
        return run

    async def merge(self, run_id: str, actor: str = "cli") -> MergeOutcome:
        """Merge a reviewed run's branch into its base branch, in the project's repository."""
        run = await self.mergeable(run_id)
        assert run.branch is not None and run.base_branch is not None
        project = await self.runs.projects.get(run.project)
        repo = Path(project.path)
        result = await git_merge.merge_branch(
            repo, run.branch, run.base_branch,
            message=f"Merge {run.branch}: {run.prompt.splitlines()[0][:60]}")
        if not result.merged:
            files = ", ".join(result.conflicts)
            await self.runs.activity.record(actor, "run.merge", run.id, "conflict", files)
            await self.runs.store.add_event(run.id, "merge", f"conflicts in {files}")
            return MergeOutcome(
                run=run, merged=False, commit=None, conflicts=result.conflicts,
                message=f"merging {run.branch} into {run.base_branch} conflicts in {files}; "
                        f"resume the run and ask it to rebase on {run.base_branch}, or merge "
                        "by hand")
        run = await self.runs.transition(run.id, RunState.MERGED,
                                         f"merged into {run.base_branch} by {actor}")
        await self.runs.activity.record(actor, "run.merge", run.id, "ok", result.commit or "")
        await self._remove_worktree(run)
        return MergeOutcome(run=await self.runs.get(run.id), merged=True, commit=result.commit,
                            conflicts=[], message=f"merged {run.branch} into {run.base_branch}")

    async def closable(self, run_id: str) -> Run:
        run = await self.runs.get(run_id)
        if run.state.is_live:
            raise Conflict(f"run {run.id!r} is {run.state}; cancel it first")
        if run.state.is_final:
            raise Conflict(f"run {run.id!r} is already {run.state}")
        return run

    async def close(self, run_id: str, *, delete_branch: bool = False,
                    actor: str = "cli") -> Run:
        """Close a run without merging; its worktree goes, its branch stays unless asked."""
        run = await self.closable(run_id)
        run = await self.runs.transition(run.id, RunState.CLOSED, f"closed by {actor}")
        await self._remove_worktree(run)
        if delete_branch and run.branch:
            await self.delete_branch(run.id, actor=actor)
        await self.runs.activity.record(actor, "run.close", run.id, "ok")
        return await self.runs.get(run.id)

    async def branch_deletable(self, run_id: str) -> Run:
        run = await self.runs.get(run_id)
        if not run.branch:
            raise Conflict(f"run {run.id!r} has no branch of its own")
        if run.state.is_live:
            raise Conflict(f"run {run.id!r} is {run.state}; cancel it first")
        return run

    async def delete_branch(self, run_id: str, actor: str = "cli") -> Run:
        run = await self.branch_deletable(run_id)
        assert run.branch is not None
        project = await self.runs.projects.get(run.project)
        await self._remove_worktree(run)
        await gitops.delete_branch(Path(project.path), run.branch, force=True)
        await self.runs.activity.record(actor, "run.delete_branch", run.id, "ok", run.branch)
        return run

    async def _remove_worktree(self, run: Run) -> None:
        if not run.use_worktree or run.worktree_removed:
            return
        project = await self.runs.projects.get(run.project)
        await git_worktrees.remove_worktree(Path(project.path), Path(run.cwd))
        await self.runs.store.update(run.id, worktree_removed=1)

    async def cleanup(self, older_than_days: float | None = None) -> list[RunId]:
        """Remove worktrees of runs that ended longer ago than the retention period.

        The branches stay, so a cleaned-up run can still be merged, resumed or forked: its
        worktree is checked out again when needed.
        """
        days = (self.runs.config.agents.worktree_retention_days if older_than_days is None
                else older_than_days)
        cutoff = time.time() - days * 86400
        removed: list[RunId] = []
        for run in await self.runs.store.find(limit=100_000):
            if (run.use_worktree and not run.worktree_removed and not run.state.is_live
                    and run.state is not RunState.INTERRUPTED
                    and (run.ended_at or run.created_at) <= cutoff):
                try:
                    await self._remove_worktree(run)
                    removed.append(run.id)
                except Exception as exc:
                    log.warning("could not remove the worktree of run %s: %s", run.id, exc)
        return removed
