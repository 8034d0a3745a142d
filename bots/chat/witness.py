"""The witness in chat: its note under a run's status message ("⚠ run 3f2a looks stalled: ..."),
with buttons to nudge, interrupt or cancel the run, or ignore the alarm (a false one)."""

from __future__ import annotations

from typing import Any

from bots.chat.orchestrator import Confirmation, Orchestrator, confirmation_buttons
from bots.chat.types import Act, Button, Outcome, Reply, Speaker, Verb
from core.events.bus import RunNote

NUDGE = ("Gluon's witness thinks you are not making progress. Step back: say what blocks "
         "you, or try another approach instead of repeating the last one.")
# What each button calls, with what arguments, and what it says once done.
ACTS: dict[Verb, tuple[str, dict[str, Any], str]] = {
        Verb.NUDGE: ("steer_run", {"message": NUDGE}, "{name} nudged run {target}."),
        Verb.INTERRUPT: ("interrupt_run", {}, "{name} interrupted run {target}."),
        Verb.CANCEL_RUN: ("cancel_run", {}, "{name} cancelled run {target}."),
        Verb.IGNORE: ("silence_run_health", {"silenced": True},
                      "{name} silenced the alarms of run {target}.")}


def note_reply(event: RunNote, live: bool) -> Reply:
    """The witness's note, with its buttons while the run is live."""
    if not live or not event.text.startswith("⚠"):
        return Reply(event.text)
    run = event.run_id
    return Reply(event.text, [[Button("Nudge", Act(Verb.NUDGE, run)),
                               Button("Interrupt", Act(Verb.INTERRUPT, run))],
                              [Button("Cancel", Act(Verb.CANCEL_RUN, run)),
                               Button("Ignore", Act(Verb.IGNORE, run))]])


async def press(orch: Orchestrator, speaker: Speaker, action: Act) -> Outcome:
    """A witness button: its tool, called as the person who pressed it (cancelling asks them
    to confirm first)."""
    tool, args, done = ACTS[action.verb]
    held: list[Confirmation] = []
    async with orch.session() as client:
        ok, _, text = await orch.call_tool(client, speaker, tool,
                                           {"run": action.target, **args}, held=held)
    if held:
        preview = held[0].action.preview
        return Outcome(f"Confirm below: {preview}.", False,
                       Reply(f"Confirm: {preview}?", confirmation_buttons(held)))
    if not ok:
        return Outcome(f"Nothing was done: {text}", False)
    return Outcome(done.format(name=speaker.name, target=action.target[:8]), True)
