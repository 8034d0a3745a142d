"""Git: worktrees for runs, merges, remotes, listings and spare worktrees.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.git.merge import MergeResult as MergeResult
    from core.git.merge import merge_branch as merge_branch
    from core.git.merge import merge_check as merge_check
    from core.git.worktree_pool import WorktreePool as WorktreePool

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "WorktreePool": "worktree_pool",
    "MergeResult": "merge",
    "merge_branch": "merge",
    "merge_check": "merge",
})
