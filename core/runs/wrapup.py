"""The end of a run in its working tree: tidy up after the sandbox, commit what the agent left
uncommitted (the safety net), and record the branch's commits and changed files."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from core.agent import sandbox
from core.git import ops as gitops
from core.models import CommitInfo, FileChange, Run

log = logging.getLogger(__name__)

SUBJECT_MAX = 72
SUMMARY_MAX = 4000


async def remove_stand_ins(run: Run) -> list[str]:
    """Tidy up after Claude Code's Bash sandbox when the agent died inside a command (in
    a person's own checkout only what bubblewrap itself made; see sandbox.py)."""
    cwd = Path(run.cwd)
    if not cwd.is_dir():
        return []
    try:
        stand_ins = await sandbox.remove_stand_ins(cwd, only_read_only=not run.use_worktree)
    except Exception:
        log.exception("removing the sandbox's stand-ins in run %s failed", run.id)
        return []
    if stand_ins:
        log.info("run %s: removed %d empty stand-ins of Claude Code's Bash sandbox (%s)",
                 run.id, len(stand_ins), ", ".join(stand_ins))
    return stand_ins


async def commit_leftovers(run: Run, stand_ins: list[str]) -> None:
    """The safety net: commit what the agent left uncommitted in its worktree, without
    the files sent with the request and without the sandbox's stand-ins (left out even
    if one could not be removed)."""
    cwd = Path(run.cwd)
    if not run.base_sha or not cwd.is_dir():
        return
    await gitops.commit_all(cwd, commit_message(run),
                            exclude=(sandbox.ATTACHMENTS_DIR, *stand_ins))


async def not_committed(run: Run, exc: Exception) -> str:
    """What to tell a person when the agent's work could not be committed."""
    what = "its uncommitted work"
    with contextlib.suppress(Exception):
        left = await gitops.uncommitted_paths(Path(run.cwd))
        if left:
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5
                                           else "")
            what = f"its uncommitted work ({shown})"
    return (f"could not commit {what}: {first_line(exc)}; it is still in the worktree "
            f"{run.cwd}")


async def record_changes(run: Run) -> dict[str, Any]:
    """The run's commits and changed files against its base, as fields of the run."""
    cwd = Path(run.cwd)
    if not run.base_sha or not cwd.is_dir():
        return {}
    commits = await gitops.commits_between(cwd, run.base_sha, "HEAD")
    files = await gitops.changed_files(cwd, run.base_sha, "HEAD")
    return {"commits": [CommitInfo(sha=c.sha, subject=c.subject) for c in commits],
            "changed_files": [FileChange(path=f.path, status=f.status,
                                         additions=f.additions, deletions=f.deletions)
                              for f in files]}


def commit_message(run: Run) -> str:
    """The safety-net commit's message: the run's task as the subject (its first line, cut
    to 72 characters), the run id and the agent's own summary of what it did as the body."""
    first = next((line.strip() for line in run.prompt.splitlines() if line.strip()), "")
    first = " ".join(first.split()) or f"Work of Gluon run {run.id}"
    if len(first) > SUBJECT_MAX:
        first = first[:SUBJECT_MAX - 3].rstrip() + "..."
    body = f"Left uncommitted by the agent of Gluon run {run.id}; committed when the run ended."
    summary = (run.result_text or "").strip()
    if summary:
        cut = summary if len(summary) <= SUMMARY_MAX else summary[:SUMMARY_MAX] + "\n[...]"
        body += f"\n\nThe agent's summary:\n\n{cut}"
    return f"{first}\n\n{body}\n"


def first_line(exc: BaseException) -> str:
    """The gist of an error in one line (for a failed git command, what git said)."""
    text = exc.stderr if isinstance(exc, gitops.GitError) and exc.stderr.strip() else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
