"""Records the tests read (`Sent`, `DiscordMessage`, …) and the fake's internal state
(guilds, stored messages, interactions, gateway sessions and connections)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord.constants import EPHEMERAL, JSON, MESSAGE_CONTENT, Kind
from tests.fakes.discord.payloads import buttons_of, walk
from tests.fakes.discord.validation import ApiError


@dataclass(frozen=True)
class Sent:
    """One thing the bot did, in the order the fake received it; failed calls record nothing."""

    kind: Kind
    channel_id: int | None = None
    message_id: int | None = None
    content: str | None = None  # text, thread name, topic, new channel name or emoji
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, content)
    flags: int = 0
    reply_to: int | None = None
    thread_id: int | None = None  # the thread a "thread" record created
    interaction_id: int | None = None
    interaction_type: int | None = None  # the callback type of an "interaction_response"
    guild_id: int | None = None
    data: Any = None  # the request body as the bot sent it
    at: float = field(default_factory=time.perf_counter, compare=False)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        return buttons_of(self.components)


@dataclass(frozen=True)
class DiscordMessage:
    """A message as it is now, after every edit so far."""

    id: int
    channel_id: int
    author_id: int
    content: str
    embeds: list[JSON]
    components: list[JSON]
    attachments: list[tuple[str, bytes]]  # (file name, content)
    flags: int
    edits: int
    reply_to: int | None
    interaction_id: int | None  # set on interaction responses and followups

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, custom_id or url) of every button, row by row."""
        return buttons_of(self.components)

    @property
    def selects(self) -> list[tuple[str, list[str]]]:
        """(custom_id, option values) of every select menu."""
        return [(c["custom_id"], [o["value"] for o in c.get("options", [])])
                for c in walk(self.components) if c.get("type") in (3, 5, 6, 7, 8)]


@dataclass(frozen=True)
class DiscordThread:
    id: int
    guild_id: int
    parent_id: int
    name: str
    type: int  # 11 public, 12 private
    starter_message_id: int | None  # None for a thread started without a message
    archived: bool
    locked: bool


@dataclass(frozen=True)
class InteractionCallback:
    """How the bot answered an interaction (POST /interactions/{id}/{token}/callback)."""

    interaction_id: int
    type: int  # 4 message, 5 deferred message, 6 deferred update, 7 update message, 9 modal
    data: JSON
    message_id: int | None  # the response's message, or the clicked one for types 6 and 7

    @property
    def content(self) -> str | None:
        content: str | None = self.data.get("content")
        return content

    @property
    def ephemeral(self) -> bool:
        return bool((self.data.get("flags") or 0) & EPHEMERAL)



@dataclass
class Guild:
    id: int
    name: str
    roles: dict[int, JSON]
    members: dict[int, JSON]  # user id -> member with user
    joined_at: str


@dataclass
class Message:
    json: JSON  # Discord's message object, current state
    edits: int = 0
    interaction_id: int | None = None

    @property
    def id(self) -> int:
        return int(self.json["id"])


@dataclass
class Interaction:
    id: int
    token: str
    channel_id: int
    message_id: int | None  # the clicked message of a component interaction
    sent_at: float | None = None  # when the gateway sent it; the answer deadline starts there
    callback: InteractionCallback | None = None
    original_id: int | None = None
    loading: bool = False  # deferred with a "thinking" message, not yet filled


@dataclass(frozen=True)
class Event:
    t: str
    d: JSON
    intent: int = 0  # needed intent bits, 0 for none
    gated: bool = False  # content hidden without MESSAGE_CONTENT

    def visible(self, intents: int) -> JSON | None:
        if self.intent and not intents & self.intent:
            return None
        if self.gated and not intents & MESSAGE_CONTENT:
            return {**self.d, "content": "", "embeds": [], "attachments": [], "components": []}
        return self.d


@dataclass
class Session:
    id: str
    intents: int
    cursor: int  # index in FakeDiscord._events of the next event to send
    seq: int = 0
    sent: list[JSON] = field(default_factory=list)  # dispatches so far, replayed on RESUME
    conn: Connection | None = None  # the connection currently attached


@dataclass
class Connection:
    outbox: asyncio.Queue[JSON | int | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None  # an int in the outbox closes with that code

    def put(self, item: JSON | int | None) -> None:
        self.outbox.put_nowait(item)


@dataclass(frozen=True)
class Call:
    params: dict[str, Any]  # path parameters
    query: dict[str, str]
    body: Any  # parsed JSON (or multipart payload_json)
    files: dict[int, tuple[str, bytes]]  # files[n] of a multipart body, by n


@dataclass
class Fault:
    pattern: str
    remaining: int
    make: Callable[[], ApiError]



def thread_view(thread: JSON, starter: int | None) -> DiscordThread:
    meta = thread["thread_metadata"]
    return DiscordThread(int(thread["id"]), int(thread["guild_id"]), int(thread["parent_id"]),
                         thread["name"], thread["type"], starter, meta["archived"], meta["locked"])
