"""Tools for finished runs: diff, merge, close, branch and worktree cleanup."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.models import Run
from core.runs.review import MergeOutcome
from core.runtime import Runtime
from core.types import RunId
from mcp_tools.params import RunRef
from mcp_tools.registry import ToolKit, actor


class Diff(BaseModel):
    run_id: str
    path: str | None
    diff: str
    truncated: bool


class Cleaned(BaseModel):
    run_ids: list[RunId]


def register(kit: ToolKit, rt: Runtime) -> None:
    async def merge_preview(run: str) -> str:
        found = await rt.review.mergeable(run)
        commits = len(found.commits)
        return (f"merge {found.describe()}: branch {found.branch} ({commits} commit"
                f"{'' if commits == 1 else 's'}, {len(found.changed_files)} files) into "
                f"{found.base_branch}")

    async def archive_preview(run: str, delete_branch: bool = False) -> str:
        found = await rt.review.closable(run)
        also = f" and delete its branch {found.branch}" if delete_branch else ""
        return f"close {found.describe()} without merging, removing its worktree{also}"

    async def delete_preview(run: str) -> str:
        found = await rt.review.branch_deletable(run)
        return (f"delete branch {found.branch} of {found.describe()} with its "
                f"{len(found.commits)} commit(s)")

    async def cleanup_preview(older_than_days: float | None = None) -> str:
        days = rt.config.agents.worktree_retention_days if older_than_days is None \
            else older_than_days
        return f"remove the worktrees of runs that ended more than {days:g} days ago"

    @kit.tool(read_only=True)
    async def get_run_diff(
            run: RunRef,
            path: Annotated[str | None, Field(description="only this file")] = None,
            max_chars: Annotated[int, Field(ge=1000, le=500_000, description="cut the diff "
                                            "after this many characters")] = 60_000) -> Diff:
        """The unified diff of a run's branch against the commit it started from, for the
        whole branch or one file (`path`)."""
        found = await rt.runs.get(run)
        diff = await rt.review.diff(found.id, path)
        truncated = len(diff) > max_chars
        if truncated:
            diff = diff[:max_chars] + (f"\n... cut at {max_chars} characters; ask for one file "
                                       "with `path`, or a larger max_chars")
        return Diff(run_id=found.id, path=path, diff=diff, truncated=truncated)

    @kit.tool(destructive=True, preview=merge_preview)
    async def merge_run(run: RunRef) -> MergeOutcome:
        """Merge a run's branch (state review) into its base branch in the project's
        repository. Refuses when the checkout has uncommitted changes; on conflicts nothing is
        changed and the conflicting files are listed."""
        return await rt.review.merge(run, actor=actor())

    @kit.tool(destructive=True, preview=archive_preview)
    async def archive_run(run: RunRef, delete_branch: Annotated[bool, Field(
            description="also delete the run's branch")] = False) -> Run:
        """Close an ended run without merging: its worktree is removed, and its branch too if
        `delete_branch` is true."""
        return await rt.review.close(run, delete_branch=delete_branch, actor=actor())

    @kit.tool(destructive=True, preview=delete_preview)
    async def delete_branch(run: RunRef) -> Run:
        """Delete an ended run's branch and worktree (its commits are lost unless merged)."""
        return await rt.review.delete_branch(run, actor=actor())

    @kit.tool(destructive=True, idempotent=True, admin=True, preview=cleanup_preview)
    async def cleanup(older_than_days: Annotated[float | None, Field(
            ge=0, description="default: agents.worktree_retention_days")] = None) -> Cleaned:
        """Remove the worktrees of runs that ended longer ago than the retention period
        (agents.worktree_retention_days). Branches are kept."""
        return Cleaned(run_ids=await rt.review.cleanup(older_than_days))
