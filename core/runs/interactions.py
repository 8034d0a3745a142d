"""People in the loop: the record of permission requests and agent questions.

Each request is persisted (so it survives a restart and can be answered from any surface) and
published on the bus; its row is the record of the answer. The agent's tool call waits in the
run's :mod:`~core.runs.permissions`, which the answer command on the run's channel wakes.
Nothing here ever answers on a person's behalf.
"""

from __future__ import annotations

import difflib
import json
import secrets
import time
from typing import Any

import aiosqlite

from core.errors import Ambiguous, Conflict, InvalidInput, NotFound
from core.events.bus import EventBus, InteractionAnswered, InteractionRequested
from core.events.log import EventLog
from core.events.store import EventStore
from core.models import Interaction
from core.store.db import Database
from core.text_input import check_text
from core.types import InteractionKind, InteractionStatus, PermissionChoice

QUESTION_TOOL = "AskUserQuestion"


def _row(row: aiosqlite.Row) -> Interaction:
    data = dict(row)
    data["tool_input"] = json.loads(data["tool_input"])
    data["answer"] = json.loads(data["answer"]) if data["answer"] is not None else None
    data.pop("reminded_at", None)
    return Interaction(**data)


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
    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus
        # Requests and answers are logged with the change.
        self.events = EventLog(EventStore(db), bus)

    async def create(self, run_id: str, project: str, tool_name: str,
                     tool_input: dict[str, Any]) -> Interaction:
        kind = (InteractionKind.QUESTION if tool_name == QUESTION_TOOL
                else InteractionKind.PERMISSION)
        title = (question_title(tool_input) if kind is InteractionKind.QUESTION
                 else describe_tool_call(tool_name, tool_input))
        interaction_id = secrets.token_hex(4)
        now = time.time()
        async with self.db.transaction():
            await self.db.execute(
                "INSERT INTO interactions (id, run_id, kind, tool_name, tool_input, title, "
                "status, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (interaction_id, run_id, kind, tool_name, json.dumps(tool_input), title,
                 InteractionStatus.PENDING, now))
            interaction = await self.get(interaction_id)
            event = await self.events.append(InteractionRequested(
                run_id=run_id, project=project, interaction_id=interaction_id, kind=kind,
                title=title, options=interaction.options, at=now))
        self.events.publish(event)
        return interaction

    async def get(self, interaction_id: str) -> Interaction:
        prefix = interaction_id.strip().lower()
        rows = await self.db.fetchall(
            "SELECT * FROM interactions WHERE id LIKE ? ORDER BY created_at DESC LIMIT 5",
            (prefix + "%",))
        if not rows or not prefix:
            open_ids = [r["id"] for r in await self.db.fetchall(
                "SELECT id FROM interactions WHERE status = ? ORDER BY created_at DESC "
                "LIMIT 200", (str(InteractionStatus.PENDING),))]
            close = difflib.get_close_matches(prefix, open_ids, n=3, cutoff=0.5)
            hint = (f"did you mean {' or '.join(close)}?" if close else
                    "the open ones are listed by `gluon pending` (tool list_pending)")
            raise NotFound(f"no question or permission request {interaction_id!r}; {hint}")
        if len(rows) > 1 and rows[0]["id"] != prefix:
            raise Ambiguous(f"id {interaction_id!r} is ambiguous; type more characters")
        return _row(rows[0])

    async def pending(self, run_id: str | None = None) -> list[Interaction]:
        sql = "SELECT * FROM interactions WHERE status = ?"
        params = [str(InteractionStatus.PENDING)]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        return [_row(r) for r in await self.db.fetchall(sql + " ORDER BY created_at", params)]

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
        async with self.db.transaction():
            changed = await self.db.execute(
                "UPDATE interactions SET status = ?, answer = ?, answered_by = ?, "
                "answered_at = ? WHERE id = ? AND status = ?",
                (InteractionStatus.ANSWERED, json.dumps(value), actor, now,
                 interaction.id, InteractionStatus.PENDING))
            if not changed:
                raise Conflict(f"{interaction.kind} {interaction.id!r} was answered meanwhile")
            run = await self.db.fetchone("SELECT project FROM runs WHERE id = ?",
                                         (interaction.run_id,))
            event = await self.events.append(InteractionAnswered(
                run_id=interaction.run_id, project=run["project"] if run else "",
                interaction_id=interaction.id, answer=value, answered_by=actor, at=now))
        answered = await self.get(interaction.id)
        self.events.publish(event)
        return answered

    async def expire_for_run(self, run_id: str) -> None:
        """The run ended: nobody can answer its open requests any more."""
        await self.db.execute(
            "UPDATE interactions SET status = ? WHERE run_id = ? AND status = ?",
            (InteractionStatus.EXPIRED, run_id, InteractionStatus.PENDING))

    async def due_reminders(self, older_than: float) -> list[Interaction]:
        """Pending requests not answered or reminded about for ``older_than`` seconds."""
        cutoff = time.time() - older_than
        rows = await self.db.fetchall(
            "SELECT * FROM interactions WHERE status = ? AND "
            "COALESCE(reminded_at, created_at) < ?", (InteractionStatus.PENDING, cutoff))
        for r in rows:
            await self.db.execute("UPDATE interactions SET reminded_at = ? WHERE id = ?",
                                  (time.time(), r["id"]))
        return [_row(r) for r in rows]
