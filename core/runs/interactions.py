"""People in the loop: the record of permission requests and agent questions.

Each request is persisted (so it survives a restart and can be answered from any surface) and
published on the bus; its row is the record of the answer. The agent's tool call waits in the
run's :mod:`~core.runs.permissions`, which the answer command on the run's channel wakes.
Nothing here ever answers on a person's behalf.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.errors import Ambiguous, Conflict, InvalidInput, NotFound
from core.events.bus import EventBus, InteractionAnswered, InteractionRequested
from core.events.log import EventLog
from core.models import Interaction
from core.runs.interaction_store import InteractionStore
from core.text_input import check_text
from core.types import InteractionKind, InteractionStatus, PermissionChoice

QUESTION_TOOL = "AskUserQuestion"


def describe_tool_call(name: str, tool_input: dict[str, Any]) -> str:
    """A one-line title for a permission request: what the agent wants to do."""
    if name == "Bash":
        return f"Run: {str(tool_input.get('command', ''))[:300]}"
    if name in ("Write", "Edit", "MultiEdit", "NotebookEdit", "Read"):
        return f"{name} {tool_input.get('file_path') or tool_input.get('notebook_path', '')}"
    if name == QUESTION_TOOL:
        return f"Ask: {question_title(tool_input)}"
    if name in ("WebFetch", "WebSearch"):
        return f"{name} {tool_input.get('url') or tool_input.get('query', '')}"
    return f"{name} {json.dumps(tool_input)[:300]}"


def question_title(tool_input: dict[str, Any]) -> str:
    questions = tool_input.get("questions") or []
    return " / ".join(str(q.get("question", "")) for q in questions) or "The agent has a question"


class Interactions:
    def __init__(self, store: InteractionStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        # Requests and answers are logged with the change.
        self.events = EventLog(store.event_store, bus)

    async def create(self, run_id: str, project: str, tool_name: str,
                     tool_input: dict[str, Any]) -> Interaction:
        kind = (InteractionKind.QUESTION if tool_name == QUESTION_TOOL
                else InteractionKind.PERMISSION)
        title = (question_title(tool_input) if kind is InteractionKind.QUESTION
                 else describe_tool_call(tool_name, tool_input))
        interaction_id = secrets.token_hex(4)
        now = time.time()
        async with self.store.transaction():
            await self.store.insert(interaction_id, run_id, kind, tool_name, tool_input, title,
                                    now)
            interaction = await self.get(interaction_id)
            event = await self.events.append(InteractionRequested(
                run_id=run_id, project=project, interaction_id=interaction_id, kind=kind,
                title=title, options=interaction.options, at=now))
        self.events.publish(event)
        return interaction

    async def get(self, interaction_id: str) -> Interaction:
        prefix = interaction_id.strip().lower()
        rows = await self.store.by_prefix(prefix)
        if not rows or not prefix:
            close = difflib.get_close_matches(prefix, await self.store.open_ids(), n=3,
                                              cutoff=0.5)
            hint = (f"did you mean {' or '.join(close)}?" if close else
                    "the open ones are listed by `gluon pending` (tool list_pending)")
            raise NotFound(f"no question or permission request {interaction_id!r}; {hint}")
        if len(rows) > 1 and rows[0].id != prefix:
            raise Ambiguous(f"id {interaction_id!r} is ambiguous; type more characters")
        return rows[0]

    async def pending(self, run_id: str | None = None) -> list[Interaction]:
        return await self.store.pending(run_id)

    def normalise(self, interaction: Interaction, choice: str) -> Any:
        """Check an answer against the request and return what is stored and sent."""
        choice = check_text(choice, "answer").strip()
        if not choice:
            raise InvalidInput("the answer is empty; give one of the options or some text")
        if interaction.kind is InteractionKind.PERMISSION:
            aliases = {"yes": "allow", "y": "allow", "approve": "allow", "once": "allow",
                       "no": "deny", "n": "deny", "run": "allow_run", "project": "allow_project",
                       "always": "allow_project"}
            value = aliases.get(choice.lower(), choice.lower())
            try:
                return str(PermissionChoice(value))
            except ValueError:
                raise InvalidInput(
                    f"{choice!r} is not a permission answer; use allow, allow_run, "
                    "allow_project or deny") from None
        questions = interaction.tool_input.get("questions") or []
        labels = {str(o.get("label", "")).lower(): str(o.get("label", ""))
                  for q in questions for o in q.get("options", [])}
        # A listed label (any case), an option number, or free text: all are real answers.
        if choice.isdigit() and 1 <= int(choice) <= len(labels):
            return list(labels.values())[int(choice) - 1]
        return labels.get(choice.lower(), choice)

    async def answer(self, interaction_id: str, choice: str, actor: str) -> Interaction:
        interaction = await self.get(interaction_id)
        if interaction.status is not InteractionStatus.PENDING:
            by = f" by {interaction.answered_by}" if interaction.answered_by else ""
            raise Conflict(f"{interaction.kind} {interaction.id!r} was already "
                           f"{interaction.status}{by}; nothing to do")
        value = self.normalise(interaction, choice)
        now = time.time()
        async with self.store.transaction():
            if not await self.store.mark_answered(interaction.id, value, actor, now):
                raise Conflict(f"{interaction.kind} {interaction.id!r} was answered meanwhile")
            event = await self.events.append(InteractionAnswered(
                run_id=interaction.run_id,
                project=await self.store.project_of(interaction.run_id),
                interaction_id=interaction.id, answer=value, answered_by=actor, at=now))
        answered = await self.get(interaction.id)
        self.events.publish(event)
        return answered

    async def mirror(self, interaction: Interaction, project: str) -> bool:
        """A request that a run's agent made where the run executes (a ``gluon worker``),
        recorded here under the same id with its event, so that any surface here can answer
        it; False when it is here already (a redelivery)."""
        async with self.store.transaction():
            if await self.store.exists(interaction.id):
                return False
            await self.store.insert(interaction.id, interaction.run_id, interaction.kind,
                                    interaction.tool_name, interaction.tool_input,
                                    interaction.title, interaction.created_at)
            event = await self.events.append(InteractionRequested(
                run_id=interaction.run_id, project=project, interaction_id=interaction.id,
                kind=interaction.kind, title=interaction.title, options=interaction.options,
                at=interaction.created_at))
        self.events.publish(event)
        return True

    async def mirror_answer(self, interaction_id: str, answer: Any, actor: str,
                            at: float) -> bool:
        """An answer recorded where the run executes: recorded here too, with its event,
        unless the request was answered (or expired) here already; whether it was."""
        async with self.store.transaction():
            if not await self.store.mark_answered(interaction_id, answer, actor, at):
                return False
            run_id = (await self.get(interaction_id)).run_id
            event = await self.events.append(InteractionAnswered(
                run_id=run_id, project=await self.store.project_of(run_id),
                interaction_id=interaction_id, answer=answer, answered_by=actor, at=at))
        self.events.publish(event)
        return True

    async def expire_for_run(self, run_id: str) -> None:
        """The run ended: nobody can answer its open requests any more."""
        await self.store.expire_for_run(run_id)

    async def due_reminders(self, older_than: float) -> list[Interaction]:
        """Pending requests not answered or reminded about for ``older_than`` seconds."""
        now = time.time()
        return await self.store.due_reminders(now - older_than, now)

    async def remind(self, every: float, project_of: Callable[[str], Awaitable[str]]) -> None:
        """Forever: ask again about each request nobody answered for ``every`` seconds."""
        while True:
            await asyncio.sleep(min(every, 60.0))
            for item in await self.due_reminders(every):
                self.bus.publish(InteractionRequested(
                    run_id=item.run_id, project=await project_of(item.run_id),
                    interaction_id=item.id, kind=item.kind, title=item.title,
                    options=item.options, reminder=True))
