"""What the loop tells the agent: the instructions after its task, and each "Continue"."""

from __future__ import annotations

from core.loops.types import dollars

STATUS_BLOCK = ("STATUS: IN_PROGRESS | COMPLETE | BLOCKED\n"
                "EXIT_SIGNAL: false | true\n"
                "ERROR: <the error you are stuck on, or none>")


def instructions(task: str, *, max_loops: int, max_cost_usd: float | None,
                 todo_file: str) -> str:
    """The run's prompt: the task, then how the loop works."""
    cost = f" and {dollars(max_cost_usd)}" if max_cost_usd is not None else ""
    return (f"{task}\n\n"
            "---\n"
            "You work in an autonomous loop: after each of your replies Gluon tells you to "
            f"continue, until the task is done (at most {max_loops} iterations{cost}). Work in "
            "small steps and commit as you go. For a task of several parts, keep a checklist in "
            f"{todo_file} (`- [ ] item`, ticked `- [x]` when done).\n"
            "End every reply with this status block:\n\n"
            f"{STATUS_BLOCK}\n\n"
            "Say `STATUS: COMPLETE` and `EXIT_SIGNAL: true` only when everything is done and "
            "checked. If nothing changes for several iterations, the loop stops.")


def next_prompt(iteration: int, max_loops: int, *, half: str | None, warn: bool,
                breaker_after: int, error: str | None) -> str:
    """The message that starts iteration ``iteration``."""
    lines = [f"Continue: iteration {iteration}/{max_loops} of the loop. Go on with the task "
             "where you left off."]
    if half:
        lines.append(f"Your last reply had {half}; the loop ends only with both. If "
                     "everything is done, say both; otherwise keep working.")
    if warn:
        lines.append(f"Warning: nothing changed (no file change, no commit, no new error) for "
                     f"{breaker_after - 1} iterations; one more like that and the loop stops. "
                     "Make progress, or say what blocks you.")
    if error:
        lines.append(f"You were at this error: {error}")
    lines.append("End your reply with the status block (STATUS, EXIT_SIGNAL, ERROR).")
    return "\n".join(lines)
