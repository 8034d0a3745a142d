"""Rebasing a run's branch in its own worktree, and the remote side of a branch (fetch, a
push that never overwrites someone else's work, delete), for the merge queue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import Conflict
from core.git.ops import (
    DEFAULT_EMAIL,
    DEFAULT_NAME,
    SLOW_TIMEOUT,
    _git,
    _split_z,
    head_sha,
)


@dataclass(frozen=True)
class RebaseResult:
    rebased: bool
    head: str  # the branch head after it (the old one when it conflicted)
    conflicts: list[str]


async def rebase_in_progress(worktree: Path) -> bool:
    for name in ("rebase-merge", "rebase-apply"):
        path = (await _git(worktree, "rev-parse", "--git-path", name)).out.strip()
        if (worktree / path).exists():
            return True
    return False


async def abort_rebase(worktree: Path) -> bool:
    """Abort a rebase left half-done in ``worktree`` (by a crash); whether there was one."""
    if not await rebase_in_progress(worktree):
        return False
    await _git(worktree, "rebase", "--abort", ok=None, time_limit=SLOW_TIMEOUT)
    return True


async def rebase(worktree: Path, onto: str, *, identity: tuple[str, str] | None = None
                 ) -> RebaseResult:
    """Rebase the branch checked out in ``worktree`` onto the commit ``onto``. A conflicting
    rebase is aborted, leaving the branch as it was, and lists the conflicting paths."""
    await abort_rebase(worktree)
    before = await head_sha(worktree)
    result = await _git(worktree, "rebase", "--quiet", "--no-autostash", onto, ok=None,
                        identity=identity or (DEFAULT_NAME, DEFAULT_EMAIL),
                        time_limit=SLOW_TIMEOUT)
    if result.code == 0:
        return RebaseResult(rebased=True, head=await head_sha(worktree), conflicts=[])
    if not await rebase_in_progress(worktree):
        raise Conflict(f"could not rebase {str(worktree)!r} onto {onto[:12]}: "
                       f"{(result.err or result.out).strip().splitlines()[-1:]}; commit or "
                       "discard its uncommitted changes, then retry")
    unmerged = await _git(worktree, "diff", "--name-only", "--diff-filter=U", "--no-relative",
                          "-z")
    conflicts = list(dict.fromkeys(_split_z(unmerged.out)))
    await _git(worktree, "rebase", "--abort", time_limit=SLOW_TIMEOUT)
    return RebaseResult(rebased=False, head=before, conflicts=conflicts)


async def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    result = await _git(repo, "merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1, 128))
    return result.code == 0


async def remote_head(repo: Path, branch: str, remote: str = "origin") -> str | None:
    """The sha of ``branch`` on ``remote`` now (asked over the network), None if it has none."""
    found = await _git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}",
                       time_limit=SLOW_TIMEOUT)
    for line in found.out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


async def fetch(repo: Path, branch: str, remote: str = "origin") -> str:
    """Fetch ``branch`` of ``remote`` into ``refs/remotes/<remote>/<branch>``; its sha."""
    await _git(repo, "fetch", "--quiet", remote,
               f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}", time_limit=SLOW_TIMEOUT)
    return await head_sha(repo, f"refs/remotes/{remote}/{branch}")


async def push_with_lease(repo: Path, branch: str, expected: str | None,
                          remote: str = "origin") -> None:
    """Push ``branch`` to ``remote``, replacing the remote branch only if it is still at
    ``expected`` (absent, for None): someone else's push is never overwritten (a Conflict)."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
    pushed = await _git(repo, "push", "--quiet", "--porcelain", lease, remote,
                        f"refs/heads/{branch}:refs/heads/{branch}", ok=None,
                        time_limit=SLOW_TIMEOUT)
    if pushed.code != 0:
        if "stale info" in pushed.out + pushed.err or "[rejected]" in pushed.out:
            raise Conflict(f"{branch!r} on {remote!r} was changed by someone else (a push or a "
                           "force-push); look at it, then retry the merge")
        raise Conflict(f"pushing {branch!r} to {remote!r} failed: "
                       f"{(pushed.err or pushed.out).strip()[:200]}; check the remote and "
                       "the credentials")


async def delete_remote_branch(repo: Path, branch: str, remote: str = "origin") -> None:
    await _git(repo, "push", "--quiet", remote, "--delete", f"refs/heads/{branch}", ok=None,
               time_limit=SLOW_TIMEOUT)
