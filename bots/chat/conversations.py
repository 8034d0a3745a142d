"""Conversation history: per conversation (platform + chat + thread), the structured turns
sent to and received from the model, tool calls and results included, in SQLite.

A turn starts with a user message and ends with the model's final answer; history is trimmed
by whole turns (oldest first) so a tool call never loses its result.
"""

from __future__ import annotations

import json
import time
from typing import Any

from core.store.db import Database

Message = dict[str, Any]


def _chars(content: Any) -> int:
    return len(json.dumps(content, ensure_ascii=False))


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def history(self, conversation: str, budget_tokens: int) -> list[Message]:
        """The latest whole turns that fit the budget (about 4 characters a token). Only the
        rows within the budget are read, however long the conversation has grown."""
        rows = await self.db.fetchall(
            "SELECT role, content FROM (SELECT id, role, content, SUM(chars) OVER "
            "(ORDER BY id DESC) AS newer FROM chat_turns WHERE conversation = ?) "
            "WHERE newer <= ? ORDER BY id", (conversation, budget_tokens * 4))
        messages = [{"role": r["role"], "content": json.loads(r["content"])} for r in rows]
        # The oldest turn may be cut: keep from the first message that starts a turn.
        start = next((n for n, m in enumerate(messages) if _starts_turn(m)), len(messages))
        return messages[start:]

    async def append(self, conversation: str, messages: list[Message]) -> None:
        now = time.time()
        async with self.db.transaction():
            for m in messages:
                await self.db.execute(
                    "INSERT INTO chat_turns (conversation, role, content, chars, at) "
                    "VALUES (?,?,?,?,?)", (conversation, m["role"],
                                           json.dumps(m["content"], ensure_ascii=False),
                                           _chars(m["content"]), now))

    async def clear(self, conversation: str) -> int:
        return await self.db.execute("DELETE FROM chat_turns WHERE conversation = ?",
                                     (conversation,))

    async def prefs(self, conversation: str) -> dict[str, str | None]:
        row = await self.db.fetchone("SELECT model, project FROM chat_prefs WHERE "
                                     "conversation = ?", (conversation,))
        return {"model": row["model"], "project": row["project"]} if row else {
            "model": None, "project": None}

    async def set_pref(self, conversation: str, key: str, value: str | None) -> None:
        assert key in ("model", "project")
        await self.db.execute(
            f"INSERT INTO chat_prefs (conversation, {key}) VALUES (?, ?) "
            f"ON CONFLICT (conversation) DO UPDATE SET {key} = excluded.{key}",
            (conversation, value))


def _starts_turn(message: Message) -> bool:
    """A user's message (not the tool results that go back to the model as user messages)."""
    content = message["content"]
    return message["role"] == "user" and not (isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content))
