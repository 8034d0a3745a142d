"""The lint auto-fix's changes, committed by Gluon apart from the agent's own work.

What the fixer changed is told by the content of the worktree's uncommitted files before and
after it: only the files it touched are committed (with the agent's uncommitted edits in those
same files, if any); the rest of the agent's uncommitted work stays as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.agent.sandbox import ATTACHMENTS_DIR
from core.git import ops as gitops

Snapshot = dict[str, str | None]  # path -> the digest of its content (None: gone)


async def snapshot(worktree: Path) -> Snapshot:
    """Every uncommitted or untracked (not ignored) file of ``worktree`` and its content."""
    paths = await gitops.uncommitted_paths(worktree, every_file=True)
    return {p: _digest(worktree / p) for p in paths
            if not p.startswith(f"{ATTACHMENTS_DIR}/")}


async def commit_fixes(worktree: Path, before: Snapshot, command: str) -> list[str]:
    """Commit the files that changed since ``before`` as Gluon's lint fix; their paths."""
    after = await snapshot(worktree)
    changed = sorted(p for p, digest in after.items() if before.get(p, "") != digest)
    if changed:
        await gitops.commit_paths(worktree, changed, f"Lint auto-fix by Gluon (`{command}`)")
    return changed


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
