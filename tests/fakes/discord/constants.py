"""Constants of the fake Discord: API path, limits, flags, intents, channel types."""

from __future__ import annotations

from typing import Any, Literal

JSON = dict[str, Any]
Kind = Literal["message", "edit", "delete", "typing", "thread", "interaction_response",
               "followup", "commands", "topic", "channel_edit", "reaction"]

API = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
HEARTBEAT_MS = 45_000
MAX_CONTENT, MAX_EMBEDS, MAX_EMBED_TOTAL = 2000, 10, 6000
MAX_ROWS, MAX_ROW, MAX_CUSTOM_ID = 5, 5, 100
MAX_UPLOAD = 10 * 1024 * 1024  # bytes of a message's files, in a server without boosts
INTERACTION_DEADLINE = 3.0  # seconds to answer an interaction
EPHEMERAL, LOADING, COMPONENTS_V2 = 1 << 6, 1 << 7, 1 << 15  # message flags
IS_VOICE_MESSAGE = 1 << 13
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = (
    1 << 0, 1 << 1, 1 << 9, 1 << 12, 1 << 15)  # gateway intents
APPLICATION_FLAGS = (1 << 15) | (1 << 19)  # members and message content intents enabled
# add reactions, view channel, send, embed links, attach files, history, app commands, threads
PERMISSIONS = str(sum(1 << bit for bit in (6, 10, 11, 14, 15, 16, 31, 34, 35, 36, 38)))
TEXT, DM, PUBLIC_THREAD, PRIVATE_THREAD = 0, 1, 11, 12  # channel types
