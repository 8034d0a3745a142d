"""When a run's conversation outgrows the model's context and Claude Code cannot compact it
(a single exchange, or compaction failed), the turn ends with ``terminal_reason`` set to
``prompt_too_long``. The run then goes on in a fresh agent session (same run, worktree and
branch) whose first prompt is a summary of the work so far: the run's task, its commits and
changed files, and what the agent said last. ``recover_run`` does the same by hand for an
ended run.
"""

from __future__ import annotations

import uuid
from typing import Any

from core.models import Run
from core.runs import wrapup
from core.runs.store import RunStore

TERMINAL_REASON = "prompt_too_long"
MAX_RECOVERIES = 3
"""Fresh sessions a run gets this way; past them it fails (its task alone may be too big)."""
EVENT = "overflow"  # the run log's record of each recovery
NOTE = ("📦 The conversation outgrew the model's context; continuing in a fresh session "
        "with a summary")
LAST_MESSAGES = 5
MESSAGE_CHARS = 600
LIST_MAX = 30


REASON = "the conversation outgrew the model's context; continuing in a fresh session"
GAVE_UP = (f"the conversation outgrew the model's context after {MAX_RECOVERIES} fresh "
           "sessions; split the task, or resume the run with a shorter request")


async def fresh_start(store: RunStore, run: Run) -> dict[str, Any]:
    """The fields that queue ``run`` again in a fresh session with the summary as its prompt
    (and records it in the run's log)."""
    prompt = await summary(store, run)
    await store.add_event(run.id, EVENT, "continuing in a fresh session with a summary")
    return {"pending_prompt": prompt, **fresh_session()}


def fresh_session() -> dict[str, Any]:
    """The run's fields for a new agent session; the run's cost goes on adding up."""
    return {"session_id": str(uuid.uuid4()), "session_started": 0, "session_cost_usd": 0.0}


async def recoveries(store: RunStore, run_id: str) -> int:
    return sum(e.kind == EVENT for e in await store.events(run_id, limit=1000))


async def summary(store: RunStore, run: Run) -> str:
    """The first prompt of the fresh session: what the run was asked and has done so far."""
    changes = await wrapup.record_changes(run)
    commits = changes.get("commits", run.commits)
    files = changes.get("changed_files", run.changed_files)
    said = [e.summary for e in await store.events(run.id, limit=200)
            if e.kind == "text" and not e.summary.startswith("Prompt is too long")]
    parts = [
        "Your earlier conversation on this task outgrew the model's context, so you continue "
        "in a fresh session. You work in the same worktree and branch: what you did is there.",
        f"The task:\n{run.prompt}",
    ]
    if commits:
        parts.append("Commits so far:\n" + "\n".join(
            f"- {c.sha[:10]} {c.subject}" for c in commits[:LIST_MAX]))
    if files:
        parts.append("Files changed so far:\n" + "\n".join(
            f"- {f.path} ({f.status}, +{f.additions} -{f.deletions})" for f in files[:LIST_MAX]))
    if said:
        parts.append("What you said last:\n" + "\n".join(
            f"> {' '.join(s.split())[:MESSAGE_CHARS]}" for s in said[-LAST_MESSAGES:]))
    parts.append("Check the worktree (git log, git status), then finish the task. Keep the "
                 "context small: read only what you need.")
    return "\n\n".join(parts)
