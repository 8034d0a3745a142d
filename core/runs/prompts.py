"""What a run's agent is sent when its run starts, resumes or comes back after a restart.

A prompt stays pending until the agent has shown it received it (see the supervisor), so a
Gluon that dies before that sends it again at the next start instead of losing it.
"""

from __future__ import annotations

from typing import Any

from core.models import Run

RESTART_PROMPT = ("Gluon restarted while you were working on this task. Continue where you "
                  "left off: check the state of the working tree first.")
USAGE_LIMIT_PROMPT = ("The usage limit that stopped you has reset. Continue where you left off: "
                      "check the state of the working tree first.")


def next_prompt(run: Run, hidden: dict[str, Any]) -> str:
    """The prompt still pending, else a note to carry on; a session that never started has
    nothing to carry on from but the run's task."""
    pending: str | None = hidden["pending_prompt"]
    return pending or (RESTART_PROMPT if run.session_started else run.prompt)


def start_message(run: Run, hidden: dict[str, Any], *, saved: bool) -> tuple[str, bool]:
    """The first message of a starting run's agent, and whether it resumes its session.

    ``saved``: Claude Code saved the run's session. If it never did (its Gluon died during the
    first model request) there is nothing to resume from: the session starts afresh, with the
    run's task in front of the message."""
    prompt = next_prompt(run, hidden)
    resume = run.session_started or bool(hidden["fork_from"])
    if run.session_started and not hidden["fork_from"] and not saved:
        resume = False
        if not prompt.startswith(run.prompt):
            prompt = run.prompt if prompt == RESTART_PROMPT else f"{run.prompt}\n\n{prompt}"
    return prompt, resume


def with_undelivered(undelivered: str | None, message: str) -> str:
    """A follow-up ``message`` after what the agent never received (the task of a session that
    never started, or a message sent just before Gluon stopped), which comes first."""
    if undelivered and undelivered != message:
        return undelivered if message == RESTART_PROMPT else f"{undelivered}\n\n{message}"
    return message
