"""The conversational layer every chat platform shares: the orchestrator, conversations, direct
commands, run reports and their text.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from bots.chat.conversations import Conversations as Conversations
    from bots.chat.migrations import CHAT_TABLES as CHAT_TABLES
    from bots.chat.orchestrator import Orchestrator as Orchestrator
    from bots.chat.orchestrator import make_llm as make_llm
    from bots.chat.store import ChatStore as ChatStore
    from bots.chat.surface import ChatSurface as ChatSurface
    from bots.chat.types import Answer as Answer
    from bots.chat.types import Button as Button
    from bots.chat.types import Choose as Choose
    from bots.chat.types import Confirm as Confirm
    from bots.chat.types import Outcome as Outcome
    from bots.chat.types import Reply as Reply
    from bots.chat.types import Speaker as Speaker

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Orchestrator": "orchestrator",
    "make_llm": "orchestrator",
    "ChatStore": "store",
    "CHAT_TABLES": "migrations",
    "Speaker": "types",
    "Reply": "types",
    "Button": "types",
    "Outcome": "types",
    "Answer": "types",
    "Choose": "types",
    "Confirm": "types",
    "ChatSurface": "surface",
    "Conversations": "conversations",
})
