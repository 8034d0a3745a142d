"""Persistence of the chat layer: the only writer of the tables in :mod:`bots.chat.migrations`.

- ``chat_turns``, ``chat_prefs``: a conversation's history and its model and project;
- ``chat_confirmations``: destructive calls held until someone presses Confirm;
- ``chat_runs``: which conversation follows which run (and its own thread, its status message);
- ``chat_messages``: bot messages about a run or one of its questions, so replies reach it;
- ``chat_links``: channels linked to a project.

The chat package owns these tables but not the database: core opens it, applies the package's
list (declared to the runtime as ``CHAT_TABLES``) and hands this store a narrow
:class:`core.tables.Tables` through :meth:`core.runtime.Runtime.tables`. So ``bots`` never
imports ``core.store`` nor a SQLite driver, and no other module writes these tables. Rows are
read into plain values here; no row object leaves this module. Reads may join core's tables
(``runs``, ``interactions``); writes never touch them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from bots.chat.migrations import CHAT_TABLES
from core.runtime import Runtime
from core.tables import Tables
from core.types import LIVE_STATES, InteractionStatus

_LIVE = f"r.state IN ({','.join('?' * len(LIVE_STATES))})"
# One statement per preference: a column name is never built from input.
_SET_PREF = {
    key: f"INSERT INTO chat_prefs (conversation, {key}) VALUES (?, ?) "
         f"ON CONFLICT (conversation) DO UPDATE SET {key} = excluded.{key}"
    for key in ("model", "project")}
Pref = Literal["model", "project"]


@dataclass(frozen=True)
class HeldCall:
    """A row of ``chat_confirmations``; speaker and arguments as the JSON they were held as."""

    id: str
    speaker: str
    tool: str
    arguments: str
    preview: str
    created_at: float


@dataclass(frozen=True)
class Following:
    """Where a run's reports go on one platform."""

    run_id: str
    chat_id: str
    thread_id: str | None
    status_message_id: str | None = None


class ChatStore:
    def __init__(self, tables: Tables) -> None:
        self.db = tables

    @classmethod
    def of(cls, runtime: Runtime) -> ChatStore:
        return cls(runtime.tables(CHAT_TABLES))

    # -- conversations ------------------------------------------------------------------------

    async def turns(self, conversation: str, max_chars: int) -> list[tuple[str, str]]:
        """(role, content as JSON) of the newest messages whose content fits in ``max_chars``,
        oldest first. Only those rows are read, however long the conversation has grown."""
        rows = await self.db.fetchall(
            "SELECT role, content FROM (SELECT id, role, content, SUM(chars) OVER "
            "(ORDER BY id DESC) AS newer FROM chat_turns WHERE conversation = ?) "
            "WHERE newer <= ? ORDER BY id", (conversation, max_chars))
        return [(r["role"], r["content"]) for r in rows]

    async def add_turns(self, conversation: str, messages: list[tuple[str, str, int]]) -> None:
        """Append (role, content as JSON, its length) messages in one transaction."""
        now = time.time()
        async with self.db.transaction():
            for role, content, chars in messages:
                await self.db.execute(
                    "INSERT INTO chat_turns (conversation, role, content, chars, at) "
                    "VALUES (?,?,?,?,?)", (conversation, role, content, chars, now))

    async def clear_turns(self, conversation: str) -> int:
        return await self.db.execute("DELETE FROM chat_turns WHERE conversation = ?",
                                     (conversation,))

    async def prefs(self, conversation: str) -> tuple[str | None, str | None]:
        """(model, project) chosen for the conversation."""
        row = await self.db.fetchone("SELECT model, project FROM chat_prefs WHERE "
                                     "conversation = ?", (conversation,))
        return (row["model"], row["project"]) if row else (None, None)

    async def set_pref(self, conversation: str, key: Pref, value: str | None) -> None:
        await self.db.execute(_SET_PREF[key], (conversation, value))

    # -- calls held for confirmation ----------------------------------------------------------

    async def hold(self, call: HeldCall) -> None:
        await self.db.execute(
            "INSERT INTO chat_confirmations (id, speaker, tool, arguments, preview, "
            "created_at) VALUES (?,?,?,?,?,?)", (call.id, call.speaker, call.tool,
                                                 call.arguments, call.preview, call.created_at))

    async def held(self, confirmation_id: str) -> HeldCall | None:
        row = await self.db.fetchone(
            "SELECT id, speaker, tool, arguments, preview, created_at FROM chat_confirmations "
            "WHERE id = ?", (confirmation_id,))
        return HeldCall(row["id"], row["speaker"], row["tool"], row["arguments"],
                        row["preview"], row["created_at"]) if row else None

    async def take(self, confirmation_id: str) -> bool:
        """Drop the held call; False when it was already gone (pressed twice)."""
        return bool(await self.db.execute("DELETE FROM chat_confirmations WHERE id = ?",
                                          (confirmation_id,)))

    # -- which chats follow which runs --------------------------------------------------------

    async def is_followed(self, run_id: str) -> bool:
        return await self.db.fetchone("SELECT 1 FROM chat_runs WHERE run_id = ?",
                                      (run_id,)) is not None

    async def follow(self, run_id: str, conversation: str, platform: str, chat_id: str,
                     thread_id: str | None, own_topic: bool) -> None:
        """The conversation follows the run (the first conversation to ask keeps it)."""
        await self.db.execute(
            "INSERT INTO chat_runs (run_id, conversation, platform, chat_id, thread_id, "
            "own_topic) VALUES (?,?,?,?,?,?) ON CONFLICT (run_id) DO NOTHING",
            (run_id, conversation, platform, chat_id, thread_id, int(own_topic)))

    async def follows(self, conversation: str, run_id: str) -> bool:
        return await self.db.fetchone(
            "SELECT 1 FROM chat_runs WHERE run_id = ? AND conversation = ?",
            (run_id, conversation)) is not None

    async def runs_near(self, conversation: str, platform: str, chat_id: str,
                        thread_id: str | None, limit: int = 8) -> list[tuple[str, bool]]:
        """(run id, whether the run has this thread as its own) of the newest runs this
        conversation follows or that have their own thread here."""
        rows = await self.db.fetchall(
            "SELECT r.id, c.own_topic AND c.thread_id = ? AS here FROM chat_runs c JOIN runs r "
            "ON r.id = c.run_id WHERE c.conversation = ? OR (c.platform = ? AND c.chat_id = ? "
            "AND c.thread_id = ?) ORDER BY r.created_at DESC LIMIT ?",
            (thread_id, conversation, platform, chat_id, thread_id, limit))
        return [(r["id"], bool(r["here"])) for r in rows]

    async def own_topics(self, platform: str) -> list[Following]:
        """Runs that have a thread (topic) of their own on the platform."""
        rows = await self.db.fetchall(
            "SELECT run_id, chat_id, thread_id FROM chat_runs WHERE platform = ? AND "
            "own_topic = 1", (platform,))
        return [Following(r["run_id"], r["chat_id"], r["thread_id"]) for r in rows]

    async def live_followed(self, platform: str) -> list[Following]:
        """The live runs followed on the platform, with their status message."""
        rows = await self.db.fetchall(
            f"SELECT c.run_id, c.chat_id, c.thread_id, c.status_message_id FROM chat_runs c "
            f"JOIN runs r ON r.id = c.run_id WHERE c.platform = ? AND {_LIVE}",
            (platform, *LIVE_STATES))
        return [Following(r["run_id"], r["chat_id"], r["thread_id"], r["status_message_id"])
                for r in rows]

    async def follower(self, run_id: str, platform: str) -> Following | None:
        row = await self.db.fetchone(
            "SELECT run_id, chat_id, thread_id, status_message_id FROM chat_runs "
            "WHERE run_id = ? AND platform = ?", (run_id, platform))
        return Following(row["run_id"], row["chat_id"], row["thread_id"],
                         row["status_message_id"]) if row else None

    async def question_message(self, platform: str, interaction_id: str) -> str | None:
        """The newest message that asked this question on a platform, if one did."""
        row = await self.db.fetchone(
            "SELECT message_id FROM chat_messages WHERE platform = ? AND "
            "interaction_id = ? ORDER BY rowid DESC LIMIT 1", (platform, interaction_id))
        return str(row["message_id"]) if row else None

    async def set_status_message(self, run_id: str, message_id: str) -> None:
        await self.db.execute("UPDATE chat_runs SET status_message_id = ? WHERE run_id = ?",
                              (message_id, run_id))

    # -- bot messages about runs --------------------------------------------------------------

    async def remember(self, platform: str, chat_id: str, message_id: str, run_id: str,
                       interaction_id: str | None) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO chat_messages (platform, chat_id, message_id, run_id, "
            "interaction_id) VALUES (?,?,?,?,?)",
            (platform, chat_id, message_id, run_id, interaction_id))

    async def about(self, platform: str, chat_id: str,
                    message_id: str) -> tuple[str, str | None] | None:
        """(run id, question id or None) of a bot message."""
        row = await self.db.fetchone(
            "SELECT run_id, interaction_id FROM chat_messages WHERE platform = ? AND "
            "chat_id = ? AND message_id = ?", (platform, chat_id, message_id))
        return (row["run_id"], row["interaction_id"]) if row else None

    async def open_questions(self, platform: str, run_id: str) -> list[tuple[str, str]]:
        """(message id, question id) of the run's questions still waiting for an answer."""
        rows = await self.db.fetchall(
            "SELECT m.message_id, m.interaction_id FROM chat_messages m JOIN "
            "interactions i ON i.id = m.interaction_id WHERE m.platform = ? AND "
            "m.run_id = ? AND i.status = ?", (platform, run_id, InteractionStatus.PENDING))
        return [(r["message_id"], r["interaction_id"]) for r in rows]

    # -- channels linked to a project ---------------------------------------------------------

    async def link_chat(self, platform: str, chat_id: str, project: str, by: str) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO chat_links (platform, chat_id, project, linked_by, "
            "linked_at) VALUES (?,?,?,?,?)", (platform, chat_id, project, by, time.time()))

    async def unlink_chat(self, platform: str, chat_id: str) -> bool:
        return bool(await self.db.execute(
            "DELETE FROM chat_links WHERE platform = ? AND chat_id = ?", (platform, chat_id)))

    async def linked_project(self, platform: str, chat_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT project FROM chat_links WHERE platform = ? AND chat_id = ?",
            (platform, chat_id))
        return str(row["project"]) if row else None
