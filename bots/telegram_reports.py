"""How the Telegram bot reports on the runs its chats follow.

One status message per run, edited in place at most about once a second; a ping when the run
finishes, fails or is cancelled; the agent's questions and permission requests as buttons, and
a note when one is answered (from any surface).
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode

from bots.orchestrator import Button, Reply
from bots.render import truncate_line
from core.events import (
    Event,
    InteractionAnswered,
    InteractionRequested,
    RunStateChanged,
    ToolCalled,
    TurnFinished,
)
from core.models import Run
from core.runtime import Runtime
from core.types import InteractionKind, RunState

log = logging.getLogger(__name__)

PLATFORM = "telegram"
EDIT_INTERVAL = 1.0  # seconds between edits of one status message
PERMISSION_LABELS = {"allow": "Allow once", "allow_run": "Allow for this run",
                     "allow_project": "Always for this project", "deny": "Deny"}
ENDED = {RunState.REVIEW: "✅", RunState.FAILED: "❌", RunState.CANCELLED: "⏹",
         RunState.INTERRUPTED: "⚠️", RunState.MERGED: "🔀", RunState.CLOSED: "📦"}


@dataclass
class Followed:
    """A run this bot reports on, in one chat."""

    run_id: str
    chat_id: int
    thread_id: int | None
    status_message: int | None = None
    last_edit: float = 0.0
    last_tool: str = ""
    pending_edit: asyncio.Task[None] | None = None
    questions: dict[str, int] = field(default_factory=dict)  # interaction id -> message id


class RunReports:
    """The run-reporting half of the bot (a mixin of ``TelegramBot``, which provides the
    attributes declared here)."""

    runtime: Runtime
    followed: dict[str, Followed]
    unfollowed: set[str]  # runs no chat of this bot follows (known from the database)
    message_runs: dict[tuple[int, int], str]
    message_questions: dict[tuple[int, int], str]
    topic_runs: dict[tuple[int, int], str]
    send: Callable[..., Awaitable[int | None]]

    @property
    def bot(self) -> Bot:
        raise NotImplementedError

    async def deliver(self, chat_id: int, op: Callable[[], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    def _follow(self, run_id: str, chat_id: int, thread_id: int | None) -> Followed:
        self.unfollowed.discard(run_id)
        if run_id not in self.followed:
            self.followed[run_id] = Followed(run_id, chat_id, thread_id)
        return self.followed[run_id]

    async def _load_followed(self) -> None:
        for row in await self.runtime.db.fetchall(
                "SELECT run_id, chat_id, thread_id FROM chat_runs WHERE platform = ? AND "
                "own_topic = 1", (PLATFORM,)):
            self.topic_runs[(int(row["chat_id"]), int(row["thread_id"]))] = row["run_id"]
        rows = await self.runtime.db.fetchall(
            "SELECT c.* FROM chat_runs c JOIN runs r ON r.id = c.run_id WHERE c.platform = ? "
            "AND r.state IN ('queued', 'running', 'waiting')", (PLATFORM,))
        for row in rows:
            f = self._follow(row["run_id"], int(row["chat_id"]), as_int(row["thread_id"]))
            if row["status_message_id"]:
                f.status_message = int(row["status_message_id"])
                self.message_runs[(f.chat_id, f.status_message)] = f.run_id

    async def _follow_runs(self) -> None:
        with self.runtime.bus.subscribe() as sub:
            while True:
                event = await sub.get()
                try:
                    await self._on_event(event)
                except Exception:
                    log.exception("could not report %s to Telegram", type(event).__name__)

    async def _on_event(self, event: Event) -> None:
        followed = self.followed.get(event.run_id)
        if followed is None:
            if event.run_id in self.unfollowed:
                return
            row = await self.runtime.db.fetchone(
                "SELECT chat_id, thread_id FROM chat_runs WHERE run_id = ? AND platform = ?",
                (event.run_id, PLATFORM))
            if row is None:  # no chat here follows it; a later link goes through _follow
                self.unfollowed.add(event.run_id)
                return
            followed = self._follow(event.run_id, int(row["chat_id"]), as_int(row["thread_id"]))
        if isinstance(event, ToolCalled):
            followed.last_tool = event.summary or event.tool
        if isinstance(event, InteractionRequested):
            await self._ask(followed, event)
            return
        if isinstance(event, InteractionAnswered):
            await self._answered(followed, event)
            return
        final = isinstance(event, RunStateChanged) and event.new in ENDED
        if isinstance(event, RunStateChanged | ToolCalled | TurnFinished):
            await self._status(followed, now=final)
        if final and isinstance(event, RunStateChanged):
            await self._ping(followed, await self.runtime.runs.get(event.run_id))

    async def _status(self, f: Followed, now: bool = False) -> None:
        """Edit the run's status message, at most about once a second."""
        wait = f.last_edit + EDIT_INTERVAL - time.monotonic()
        if not now and wait > 0:
            if f.pending_edit is None or f.pending_edit.done():
                f.pending_edit = asyncio.create_task(self._status_later(f, wait))
            return
        f.last_edit = time.monotonic()
        run = await self.runtime.runs.get(f.run_id)
        text = status_text(run, f.last_tool)
        if f.status_message is None:
            sent = await self.deliver(f.chat_id, lambda: self.bot.send_message(
                f.chat_id, text, parse_mode=ParseMode.HTML, message_thread_id=f.thread_id))
            f.status_message = int(sent.message_id)
            self.message_runs[(f.chat_id, f.status_message)] = f.run_id
            await self.runtime.db.execute(
                "UPDATE chat_runs SET status_message_id = ? WHERE run_id = ?",
                (str(f.status_message), f.run_id))
        else:
            message_id = f.status_message
            await self.deliver(f.chat_id, lambda: self.bot.edit_message_text(
                text, chat_id=f.chat_id, message_id=message_id, parse_mode=ParseMode.HTML))

    async def _status_later(self, f: Followed, wait: float) -> None:
        await asyncio.sleep(wait)  # the edit throttle, not a synchronisation
        await self._status(f, now=True)

    async def _ping(self, f: Followed, run: Run) -> None:
        icon = ENDED.get(run.state, "•")
        what = {RunState.REVIEW: "finished", RunState.FAILED: "failed",
                RunState.CANCELLED: "was cancelled", RunState.INTERRUPTED: "was interrupted",
                RunState.MERGED: "was merged", RunState.CLOSED: "was closed"}[run.state]
        body = run.result_text or run.error or run.state_reason or ""
        text = f"{icon} Run `{run.short}` on {run.project} {what}."
        if run.commits:
            text += f" {len(run.commits)} commit(s) on `{run.branch}`."
        if body:
            text += "\n\n" + body
        if run.state is RunState.REVIEW:
            text += "\n\nReply to this message to continue it, or ask me to merge it."
        sent = await self.send(f.chat_id, f.thread_id, Reply(text), reply_to=f.status_message)
        if sent is not None:
            self.message_runs[(f.chat_id, sent)] = run.id

    async def _ask(self, f: Followed, event: InteractionRequested) -> None:
        interaction = await self.runtime.runs.interactions.get(event.interaction_id)
        run = await self.runtime.runs.get(event.run_id)
        again = "Still waiting: " if event.reminder else ""
        if interaction.kind is InteractionKind.PERMISSION:
            text = (f"🔐 {again}Run `{run.short}` on {run.project} asks to use "
                    f"{interaction.title}")
            labels = [PERMISSION_LABELS[o] for o in interaction.options]
        else:
            text = (f"❓ {again}Run `{run.short}` on {run.project} asks: {interaction.title}\n"
                    "Press an option, or reply to this message with your answer.")
            labels = interaction.options
        buttons = [[Button(truncate_line(label, 60), f"a:{interaction.id}:{n}")]
                   for n, label in enumerate(labels)]
        sent = await self.send(f.chat_id, f.thread_id, Reply(text, buttons))
        if sent is not None:
            f.questions[interaction.id] = sent
            self.message_questions[(f.chat_id, sent)] = interaction.id

    async def _answered(self, f: Followed, event: InteractionAnswered) -> None:
        message_id = f.questions.pop(event.interaction_id, None)
        if message_id is None:
            return
        self.message_questions.pop((f.chat_id, message_id), None)
        answer = PERMISSION_LABELS.get(str(event.answer), str(event.answer))
        await self.deliver(f.chat_id, lambda: self.bot.edit_message_reply_markup(
            chat_id=f.chat_id, message_id=message_id, reply_markup=None))
        await self.send(f.chat_id, f.thread_id, Reply(
            f"Answered by {event.answered_by}: {truncate_line(answer, 200)}"),
            reply_to=message_id)


def status_text(run: Run, last_tool: str) -> str:
    icon = ENDED.get(run.state, {"queued": "⏳", "running": "▶️", "waiting": "⏸"}.get(
        str(run.state), "•"))
    lines = [f"{icon} <b>Run <code>{run.short}</code></b> on {html.escape(run.project)} · "
             f"{run.state} · {run.model}",
             html.escape(truncate_line(run.prompt, 200)),
             f"{run.turns} turns · {run.tool_calls} tool calls · ${run.cost_usd:.2f}"]
    if last_tool and run.state.is_live:
        lines.append(f"last: {html.escape(truncate_line(last_tool, 200))}")
    return "\n".join(lines)


def as_int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None
