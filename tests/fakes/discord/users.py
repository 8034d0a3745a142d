"""The test side's users acting: messages, clicks, slash commands, and the faults
and disconnects Discord inflicts."""

from __future__ import annotations

import copy
import math
import secrets
import time
from typing import Any

from tests.fakes.discord.constants import DM, IS_VOICE_MESSAGE, JSON, PERMISSIONS
from tests.fakes.discord.payloads import op_frame, opt_int, walk
from tests.fakes.discord.state import Fault, Interaction, Message
from tests.fakes.discord.validation import ApiError
from tests.fakes.discord.world import World


class UserActions(World):
    """What tests make users (and Discord) do; each queues gateway events."""

    def user_message(self, channel_id: int, user_id: int, content: str, *,
                     guild_id: int | None = None, mentions_bot: bool = False,
                     attachments: list[tuple[str, bytes]] | None = None,
                     message_reference: int | None = None) -> int:
        """Queue a MESSAGE_CREATE from a user; returns the message id. A channel the fake does
        not know as a guild channel or thread is a DM channel with that user (`guild_id`, when
        given, must be the channel's guild). `mentions_bot` prefixes `<@bot_id>` unless the
        content has it; attachments are (file name, content), downloadable by the bot."""
        with self._cond:
            channel = self._channels.get(channel_id)
            if channel is None or channel["type"] == DM:
                assert guild_id is None, f"no channel {channel_id} in guild {guild_id}"
                channel = self._dm_channel(channel_id, user_id)
            else:
                assert guild_id in (None, int(channel["guild_id"])), \
                    f"channel {channel_id} is in guild {channel['guild_id']}, not {guild_id}"
            mention = f"<@{self.bot_id}>"
            if mentions_bot and mention not in content:
                content = f"{mention} {content}"
            body: JSON = {"content": content}
            if message_reference is not None:
                body["message_reference"] = {"message_id": str(message_reference)}
            try:
                message = self._new_message(channel, self._user(user_id), body,
                                            dict(enumerate(attachments or [])))
            except ApiError as exc:
                raise AssertionError(f"bad user message: {exc.body}") from None
            self._dispatch_message("MESSAGE_CREATE", message)
            return message.id

    def user_voice(self, channel_id: int, user_id: int, data: bytes, duration: float, *,
                   guild_id: int | None = None, message_reference: int | None = None,
                   filename: str = "voice-message.ogg", content_type: str = "audio/ogg",
                   voice_message: bool = True) -> int:
        """Queue a voice message as Discord's clients send one (flag IS_VOICE_MESSAGE, no
        content, one Ogg/Opus attachment with its length and waveform), or with
        `voice_message` False a plain audio attachment; returns the message id."""
        with self._cond:
            channel = self._channels.get(channel_id)
            if channel is None or channel["type"] == DM:
                channel = self._dm_channel(channel_id, user_id)
            body: JSON = {"content": ""}
            if message_reference is not None:
                body["message_reference"] = {"message_id": str(message_reference)}
            message = self._new_message(channel, self._user(user_id), body, {0: (filename, data)},
                                        flags=IS_VOICE_MESSAGE if voice_message else 0)
            attachment = message.json["attachments"][0]
            attachment["content_type"] = content_type
            if voice_message:
                attachment.update(duration_secs=duration, waveform="AAAAAAAA", flags=0)
            self._dispatch_message("MESSAGE_CREATE", message)
            return message.id

    def click(self, message_id: int, user_id: int, custom_id: str, *,
              values: list[str] | None = None) -> int:
        """Queue an INTERACTION_CREATE for a click on a button (`values` None) or a choice in a
        select menu of a message; returns the interaction id. discord.py stores a View after it
        has parsed the response to the message's POST, and silently drops clicks that come
        earlier: click once the bot's send has returned, not as soon as the fake has the message."""
        with self._cond:
            message = self._messages.get(message_id)
            if message is None:
                raise AssertionError(f"no message {message_id}")
            components = list(walk(message.json["components"]))
            found = [c for c in components if c.get("custom_id") == custom_id]
            if not found:
                ids = [c["custom_id"] for c in components if "custom_id" in c]
                raise AssertionError(f"message {message_id} has no component {custom_id!r}: {ids}")
            component = found[0]
            if component.get("disabled"):
                raise AssertionError(f"component {custom_id!r} is disabled")
            if (component["type"] == 2) != (values is None):
                raise AssertionError(f"component {custom_id!r} has type {component['type']}: "
                                     "pass values for a select menu and only for one")
            data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
            if values is not None:
                data["values"] = values
            channel = self._channel(int(message.json["channel_id"]))
            return self._interaction(3, channel, user_id, data, message)

    def slash(self, channel_id: int, user_id: int, name: str,
              options: dict[str, Any] | None = None) -> int:
        """Queue an INTERACTION_CREATE for a synced slash command ("group sub" for a subcommand)
        with option values by name; returns the interaction id."""
        with self._cond:
            channel = self._channel(channel_id) if channel_id in self._channels \
                else self._dm_channel(channel_id, user_id)
            guild_id = int(channel["guild_id"]) if "guild_id" in channel else None
            root, *path = name.split()
            scopes = ([guild_id] if guild_id is not None else []) + [None]
            found = [(scope, c) for scope in scopes for c in self._commands.get(scope, [])
                     if c["name"] == root and c.get("type", 1) == 1]
            if not found:
                synced = {scope: [c["name"] for c in cs] for scope, cs in self._commands.items()}
                raise AssertionError(f"no command {root!r} synced for guild {guild_id}: {synced}")
            scope, command = found[0]
            data: JSON = {"id": command["id"], "name": root, "type": 1}
            if scope is not None:
                data["guild_id"] = str(scope)
            resolved: JSON = {}
            data["options"] = self._options(command, path, options or {}, guild_id, resolved)
            if resolved:
                data["resolved"] = resolved
            return self._interaction(2, channel, user_id, data, None)

    def disconnect(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close every gateway connection with `code`, as Discord does now and then; the client
        reconnects and RESUMEs, or IDENTIFYs again if not `resumable`."""
        with self._cond:
            live = [c for c in self._connections if c.session is not None]
            assert live, "no client is connected to the gateway"
            for conn in live:
                assert conn.session is not None
                if conn.session.conn is conn:
                    conn.session.conn = None  # nothing more goes to this connection
                if not resumable:
                    self._sessions.pop(conn.session.id, None)
                self._in_loop(conn.put, code)

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every connection; the client closes and RESUMEs."""
        with self._cond:
            for conn in self._connections:
                self._in_loop(conn.put, op_frame(7, None))

    def rate_limit(self, route: str = "POST /channels/*/messages", times: int = 1,
                   retry_after: float = 0.2, *, is_global: bool = False) -> None:
        """Answer the next `times` requests matching `route` ("METHOD /path" under /api/v10,
        shell wildcards) with a 429 that discord.py waits out and retries by itself."""
        def make() -> ApiError:
            error = ApiError(429, 0, "You are being rate limited.")
            error.body |= {"retry_after": retry_after, "global": is_global}
            error.headers = {
                "Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": f"fake{abs(hash(route)):x}",
                "X-RateLimit-Scope": "global" if is_global else "user",
                "Via": "1.1 google"}  # without Via, discord.py takes a 429 for a Cloudflare ban
            if is_global:
                error.headers["X-RateLimit-Global"] = "true"
            return error
        with self._cond:
            self._faults.append(Fault(route, times, make))

    def fail_next(self, route: str, status: int = 403, code: int = 50013,
                  message: str = "Missing Permissions", times: int = 1) -> None:
        """Answer the next `times` requests matching `route` with this error. discord.py retries
        500, 502, 504 itself after sleeping 1, 3, 5… seconds."""
        with self._cond:
            self._faults.append(Fault(route, times, lambda: ApiError(status, code, message)))


    def _interaction(self, kind: int, channel: JSON, user_id: int, data: JSON,
                     message: Message | None) -> int:
        interaction_id, user = self._snowflake(), self._user(user_id)
        token = f"fake-interaction-{interaction_id}-{secrets.token_hex(8)}"
        guild_id = opt_int(channel.get("guild_id"))
        payload: JSON = {
            "id": str(interaction_id), "application_id": str(self.app_id), "type": kind,
            "data": data, "token": token, "version": 1, "channel_id": channel["id"],
            "channel": {**copy.deepcopy(channel), "permissions": PERMISSIONS},
            "app_permissions": PERMISSIONS, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024, "context": 0 if guild_id else 1,
            "authorizing_integration_owners": {"0": str(guild_id)} if guild_id
            else {"1": str(user_id)}}
        if guild_id is not None:
            payload.update(guild_id=str(guild_id), guild_locale="en-US",
                           guild={"id": str(guild_id), "locale": "en-US", "features": []},
                           member={**self._member_of(guild_id, user_id),
                                   "permissions": PERMISSIONS})
        else:
            payload["user"] = user
        if message is not None:
            payload["message"] = copy.deepcopy(message.json)
        self._interactions[interaction_id] = Interaction(
            interaction_id, token, int(channel["id"]), message.id if message else None)
        self._by_token[token] = interaction_id
        self._dispatch("INTERACTION_CREATE", copy.deepcopy(payload))
        return interaction_id

    def _options(self, command: JSON, path: list[str], values: dict[str, Any],
                 guild_id: int | None, resolved: JSON) -> list[JSON]:
        """Slash command options in Discord's shape, from the synced definition."""
        if path:
            sub = next((o for o in command.get("options") or []
                        if o["name"] == path[0] and o["type"] in (1, 2)), None)
            if sub is None:
                raise AssertionError(f"command {command['name']!r} has no subcommand {path[0]!r}")
            return [{"name": sub["name"], "type": sub["type"],
                     "options": self._options(sub, path[1:], values, guild_id, resolved)}]
        defined = {o["name"]: o for o in command.get("options") or []}
        unknown = set(values) - set(defined)
        missing = {n for n, o in defined.items() if o.get("required") and n not in values}
        if unknown or missing:
            raise AssertionError(f"options of {command['name']!r}: unknown {sorted(unknown)}, "
                                 f"missing {sorted(missing)}; defined {sorted(defined)}")
        options = []
        for name, value in values.items():
            kind = defined[name]["type"]
            if kind in (6, 7, 8, 9):  # user, channel, role, mentionable: an id, resolved
                self._resolve(kind, int(value), guild_id, resolved)
                value = str(value)
            options.append({"name": name, "type": kind, "value": value})
        return options

    def _resolve(self, kind: int, object_id: int, guild_id: int | None, resolved: JSON) -> None:
        if kind == 7:
            channel = self._channel(object_id)
            resolved.setdefault("channels", {})[str(object_id)] = {
                k: channel.get(k) for k in ("id", "name", "type", "parent_id", "thread_metadata")
                if k in channel} | {"permissions": PERMISSIONS}
        elif guild_id is not None and object_id in self._guild(guild_id).roles:
            role = self._guild(guild_id).roles[object_id]
            resolved.setdefault("roles", {})[str(object_id)] = role
        else:
            resolved.setdefault("users", {})[str(object_id)] = self._user(object_id)
            if guild_id is not None:
                member = {k: v for k, v in self._member_of(guild_id, object_id).items()
                          if k != "user"}
                resolved.setdefault("members", {})[str(object_id)] = {**member,
                                                                      "permissions": PERMISSIONS}
