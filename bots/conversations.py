"""Conversation history: per conversation (platform + chat + thread), the structured turns
sent to and received from the model, tool calls and results included, in SQLite.

A turn starts with a user message and ends with the model's final answer; history is trimmed
by whole turns (oldest first) so a tool call never loses its result.
"""

from __future__ import annotations

import json
import time
from typing import Any

from core.db import Database

Message = dict[str, Any]


def _chars(content: Any) -> int:
    return len(json.dumps(content, ensure_ascii=False))


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def history(self, conversation: str, budget_tokens: int) -> list[Message]:
        """The latest whole turns that fit the budget (about 4 characters a token)."""
        rows = await self.db.fetchall(
            "SELECT role, content, chars FROM chat_turns WHERE conversation = ? ORDER BY id",
            (conversation,))
        turns: list[list[Message]] = []
        sizes: list[int] = []
        for row in rows:
            content = json.loads(row["content"])
            starts_turn = row["role"] == "user" and not _is_tool_result(content)
            if starts_turn or not turns:
                turns.append([])
                sizes.append(0)
            turns[-1].append({"role": row["role"], "content": content})
            sizes[-1] += row["chars"]
        budget = budget_tokens * 4
        kept: list[list[Message]] = []
        for turn, size in zip(reversed(turns), reversed(sizes), strict=True):
            if size > budget:
                break
            budget -= size
            kept.append(turn)
        return [m for turn in reversed(kept) for m in turn]

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


def _is_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
