"""A protocol-level fake of Discord (REST API v10 and the gateway), so the real discord.py runs
offline.

`FakeDiscord` serves the REST API under `/api/v10` from a Starlette app (uvicorn on 127.0.0.1 in
a background thread, as the other fakes) and the gateway websocket at `/gateway`. uvicorn cannot
serve websockets here (neither `websockets` nor `wsproto` is installed), so the gateway runs on
aiohttp (a dependency of discord.py) on a second port, in the same event loop, started by the
Starlette app's lifespan. Point discord.py at it with `with fake.patch_discord(): ...`.

Tests play the users (`user_message`, `user_voice`, `click`, `slash`), read what the bot did
(`sent`, `messages`, `threads`, `interaction_responses`, `commands`) and `await wait_for(predicate)`
instead of sleeping. Like Discord, the fake answers JSON errors (`{"code": 50035, "message":
"Invalid Form Body", "errors": …}`) to content over 2000 characters, oversized embeds, more than
5 rows or 5 buttons a row, duplicate or long custom ids, empty messages, files over 10 MiB
(413, 40005), edits of other users' messages, interaction callbacks after 3 s or twice, and
unknown channels or messages; an unknown route is a 404 recorded in `unhandled`. Gateway
events honour the IDENTIFY intents: without MESSAGE_CONTENT a guild message arrives with empty
content unless it mentions the bot. The bot's own messages come back as MESSAGE_CREATE, as on
Discord. `rate_limit()` and `fail_next()` inject errors; `disconnect()` and
`request_reconnect()` drop the gateway connection.

Not emulated: permissions, voice, presences, forum channels, reactions beyond recording,
autocomplete, and the CDN beyond the files that pass through the fake.
"""

from tests.fakes.discord.constants import Kind
from tests.fakes.discord.fake import FakeDiscord
from tests.fakes.discord.state import DiscordMessage, DiscordThread, InteractionCallback, Sent
from tests.fakes.discord.validation import ApiError

__all__ = ["ApiError", "DiscordMessage", "DiscordThread", "FakeDiscord", "InteractionCallback",
           "Kind", "Sent"]
