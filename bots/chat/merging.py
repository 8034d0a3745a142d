"""The merge queue in chat: what its steps say under a run's status message, and its buttons.

A finished run's ping offers a Merge button (which queues the run, once confirmed, as a merge
asked for in words would). While the run's entry waits, rebases, is checked or merges, only the
status message shows it (no message per step). The run's agent called in to resolve a conflict
or fix failed checks, the entry failing, and its cancellation each get one message: a failure
with what a person can do about it (let the agent try the conflicts again, or retry, and
cancel), buttons that go once the entry moves on (retried or cancelled from anywhere). The
merge itself is the run's own ping ("merged into main by the merge queue").
"""

from __future__ import annotations

from bots.chat.orchestrator import Confirmation, Orchestrator, confirmation_buttons
from bots.chat.types import Act, Button, Outcome, Reply, Speaker, Verb
from core.errors import Conflict, NotFound
from core.events.bus import MergeStep
from core.merges.states import MergeState
from core.models import Run
from core.runtime import Runtime
from core.types import RunState

# The steps the status message shows, and nothing else does.
QUIET = frozenset({MergeState.WAITING, MergeState.REBASING, MergeState.CHECKING,
                   MergeState.MERGING, MergeState.MERGED})
# What each button calls, with what argument, and what it says once done.
ACTS = {Verb.MERGE: ("enqueue_merge", "runs", "{name} queued run {target} for merging."),
        Verb.RETRY_MERGE: ("retry_merge", "entry", "{name} put the merge back in line."),
        Verb.CANCEL_MERGE: ("cancel_merge", "entry", "{name} took it out of the merge queue.")}


def step_line(event: MergeStep) -> str:
    """The status message's line while the entry is in line; "" once it has left."""
    if not MergeState(event.state).is_open:
        return ""
    return f"🔀 merge queue ({event.base}): {event.state}, {event.reason}"


def step_report(event: MergeStep, run: Run, mention: str = "") -> Reply | None:
    """The message a step gets under the run's status message, or None (a quiet step).
    ``mention``: how to notify the person who started the run, when the step needs them."""
    state = MergeState(event.state)
    if state in QUIET:
        return None
    head = f"Merge queue, run `{run.short}` into {event.base}"
    if state is MergeState.RESOLVING:
        return Reply(f"🔀 {head}: {event.reason}.")
    if state is MergeState.FAILED:
        conflicts = bool(event.files) and "conflict" in event.reason.lower()
        text = f"❌ {head} stopped: {event.reason}."
        return Reply(f"{mention} {text}" if mention else text, [[
            Button("Let the agent resolve" if conflicts else "Retry",
                   Act(Verb.RETRY_MERGE, event.entry_id)),
            Button("Cancel", Act(Verb.CANCEL_MERGE, event.entry_id))]])
    return Reply(f"⏹ {head}: {event.reason}.")


def after_failure(event: MergeStep) -> str:
    """The note closing a failure's message once the entry moved on ("retried by ...")."""
    icon = "⏹" if event.state == MergeState.CANCELLED else "🔀"
    return f"{icon} Merge queue: {event.reason}."


def merge_buttons(run: Run) -> list[list[Button]]:
    """The Merge button of a finished run's ping (when it has work to merge)."""
    if run.state is RunState.REVIEW and run.branch and run.commits:
        return [[Button("Merge", Act(Verb.MERGE, run.id))]]
    return []


async def has_it(runtime: Runtime, run: Run) -> bool:
    """Whether the merge queue has the run in hand: its entry is in line, or stopped after
    the run last ended (the run's agent was called in by the queue, which says what next)."""
    try:
        entry = await runtime.merges.get(run.id)
    except (NotFound, Conflict):
        return False
    if entry.run_id != run.id:
        return False
    if entry.state.is_open:
        return True
    return (entry.state is MergeState.FAILED and entry.ended_at is not None
            and run.ended_at is not None and entry.ended_at >= run.ended_at)


async def press(orch: Orchestrator, speaker: Speaker, action: Act) -> Outcome:
    """A merge-queue button: its tool, called as the person who pressed it. Merging asks them
    to confirm first: the press then brings a message with the confirmation buttons."""
    tool, param, done = ACTS[action.verb]
    value: object = [action.target] if param == "runs" else action.target
    held: list[Confirmation] = []
    async with orch.session() as client:
        ok, _, text = await orch.call_tool(client, speaker, tool, {param: value}, held=held)
    if held:
        preview = held[0].action.preview
        return Outcome(f"Confirm below: {preview}.", False,
                       Reply(f"Confirm: {preview}?", confirmation_buttons(held)))
    if not ok:
        return Outcome(f"Nothing was done: {text}", False)
    return Outcome(done.format(name=speaker.name, target=action.target[:8]), True)
