"""Conversation history: per conversation (platform + chat + thread), the structured turns
sent to and received from the model, tool calls and results included, in SQLite.

A turn starts with a user message and ends with the model's final answer; history is trimmed
by whole turns (oldest first) so a tool call never loses its result.
"""

from __future__ import annotations

import json
from typing import Any

from bots.chat.store import ChatStore, Pref

Message = dict[str, Any]


def _chars(content: Any) -> int:
    return len(json.dumps(content, ensure_ascii=False))


class Conversations:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def history(self, conversation: str, budget_tokens: int) -> list[Message]:
        """The latest whole turns that fit the budget (about 4 characters a token). Only the
        rows within the budget are read, however long the conversation has grown."""
        rows = await self.store.turns(conversation, budget_tokens * 4)
        messages = [{"role": role, "content": json.loads(content)} for role, content in rows]
        # The oldest turn may be cut: keep from the first message that starts a turn.
        start = next((n for n, m in enumerate(messages) if _starts_turn(m)), len(messages))
        return messages[start:]

    async def append(self, conversation: str, messages: list[Message]) -> None:
        await self.store.add_turns(conversation, [
            (m["role"], json.dumps(m["content"], ensure_ascii=False), _chars(m["content"]))
            for m in messages])

    async def clear(self, conversation: str) -> int:
        return await self.store.clear_turns(conversation)

    async def prefs(self, conversation: str) -> dict[str, str | None]:
        model, project = await self.store.prefs(conversation)
        return {"model": model, "project": project}

    async def set_pref(self, conversation: str, key: Pref, value: str | None) -> None:
        await self.store.set_pref(conversation, key, value)


def _starts_turn(message: Message) -> bool:
    """A user's message (not the tool results that go back to the model as user messages)."""
    content = message["content"]
    return message["role"] == "user" and not (isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content))
