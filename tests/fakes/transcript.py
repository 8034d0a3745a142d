"""Reading Messages API request bodies: texts, session ids, and which script step is due.

Script selection is stateless, so it survives resume, fork and a restarted client: the last
user-role text block in `messages` that contains a registered key picks the script, and the
number of assistant messages after that prompt is the step index. Tool results never select a
script, and neither do the `role: "system"` entries in which the CLI sends environment info and
user messages that arrived mid-turn ("The user sent a new message while you were working: ...");
so those do not reset the index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

JSON = dict[str, object]

# The CLI's text block when the user interrupted a request before any token of it arrived
# (the history then has no assistant message for it). A tool interrupted mid-run reads
# "[Request interrupted by user for tool use]" instead and follows its tool_use.
INTERRUPT_MARKER = "[Request interrupted by user]"


def content_blocks(content: object) -> list[JSON]:
    """The content blocks of a message (a plain string becomes one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def flatten_text(content: object) -> str:
    """All text of a message's content, tool results included, one block per line."""
    parts: list[str] = []
    for block in content_blocks(content):
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            parts.append(flatten_text(block.get("content", "")))
    return "\n".join(p for p in parts if p)


def body_messages(body: JSON) -> list[JSON]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


@dataclass
class RecordedRequest:
    """One `POST /v1/messages` as the server received it, and which step answered it.

    `step` is the index into the script; it is >= the script's length when the script was
    exhausted ("done"), and -1 when no script step answered (no key, or a side request).
    """

    body: JSON
    script_key: str | None
    step: int
    session_id: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[JSON]:
        return body_messages(self.body)

    @property
    def has_tools(self) -> bool:
        return bool(self.body.get("tools"))

    def last_user_text(self) -> str:
        """Text of the latest user-role message, tool results flattened to text."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return flatten_text(message.get("content"))
        return ""

    def all_text(self) -> str:
        """Every text in `messages` (any role, `system` entries and tool results included)."""
        return "\n".join(flatten_text(m.get("content")) for m in self.messages)

    def tool_results(self) -> list[str]:
        """The flattened text of every tool_result block, oldest first."""
        return [
            flatten_text(b.get("content", ""))
            for m in self.messages
            for b in content_blocks(m.get("content"))
            if b.get("type") == "tool_result"
        ]


def session_id_of(body: JSON) -> str | None:
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str):
        return None
    try:
        parsed = json.loads(user_id)
    except ValueError:
        return None
    sid = parsed.get("session_id") if isinstance(parsed, dict) else None
    return sid if isinstance(sid, str) else None


def select_step(body: JSON, keys: Sequence[str]) -> tuple[str | None, int]:
    """The script key chosen by `body` and the step index, or (None, -1).

    The last user-role text block containing a key selects the script. Each assistant message
    after it used one step. An interrupt before the first streamed token leaves no assistant
    message, only an "[Request interrupted by user]" text block, so that marker counts as a
    used step when nothing answered the request it interrupted.
    """
    # (message index, role, block) in conversation order: a key and a later interrupt marker
    # can share one user message.
    flat = [
        (i, m.get("role"), b)
        for i, m in enumerate(body_messages(body))
        for b in content_blocks(m.get("content"))
    ]
    for position in range(len(flat) - 1, -1, -1):
        _, role, block = flat[position]
        if role != "user" or block.get("type") != "text":
            continue
        matches = [k for k in keys if k in str(block.get("text", ""))]
        if not matches:
            continue
        key = max(matches, key=len)  # "SCRIPT:a-b" beats its prefix "SCRIPT:a"
        used, answered, last_assistant = 0, False, -1
        for index, role, block in flat[position + 1 :]:
            if role == "assistant":
                used += index != last_assistant
                answered, last_assistant = True, index
            elif role == "user":
                is_marker = str(block.get("text", "")).strip() == INTERRUPT_MARKER
                used += is_marker and not answered
                answered = is_marker
        return key, used
    return None, -1


def is_cli_side_request(body: JSON) -> bool:
    """A Claude Code request that is not an agent turn (e.g. a session title): no tools."""
    return not body.get("tools") and "x-anthropic-billing-header" in json.dumps(body.get("system"))
