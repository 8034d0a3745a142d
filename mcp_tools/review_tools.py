"""Tools for finished runs: diff, merge, close, branch and worktree cleanup."""

from __future__ import annotations

from pydantic import BaseModel

from core.models import Run
from core.review import MergeOutcome
from core.runtime import Runtime
from mcp_tools.registry import ToolKit, current_actor


class Diff(BaseModel):
    run_id: str
    path: str | None
    diff: str


class Cleaned(BaseModel):
    run_ids: list[str]


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def get_run_diff(run: str, path: str | None = None) -> Diff:
        """The unified diff of a run's branch against the commit it started from, for the
        whole branch or one file (`path`)."""
        found = await rt.runs.get(run)
        return Diff(run_id=found.id, path=path, diff=await rt.review.diff(found.id, path))

    @kit.tool(destructive=True)
    async def merge_run(run: str) -> MergeOutcome:
        """Merge a run's branch (state review) into its base branch in the project's
        repository. Refuses when the checkout has uncommitted changes; on conflicts nothing is
        changed and the conflicting files are listed."""
        return await rt.review.merge(run, actor=current_actor.get())

    @kit.tool(destructive=True)
    async def archive_run(run: str, delete_branch: bool = False) -> Run:
        """Close an ended run without merging: its worktree is removed, and its branch too if
        `delete_branch` is true."""
        return await rt.review.close(run, delete_branch=delete_branch, actor=current_actor.get())

    @kit.tool(destructive=True)
    async def delete_branch(run: str) -> Run:
        """Delete an ended run's branch and worktree (its commits are lost unless merged)."""
        return await rt.review.delete_branch(run, actor=current_actor.get())

    @kit.tool(idempotent=True)
    async def cleanup(older_than_days: float | None = None) -> Cleaned:
        """Remove the worktrees of runs that ended longer ago than the retention period
        (agents.worktree_retention_days). Branches are kept."""
        return Cleaned(run_ids=await rt.review.cleanup(older_than_days))
