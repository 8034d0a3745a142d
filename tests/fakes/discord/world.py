"""The fake's world and its bookkeeping: guilds, channels, messages and the events
queued for the gateway. Every method here expects the lock (`_cond`) held."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tests.fakes.discord.constants import (
    API,
    COMPONENTS_V2,
    DIRECT_MESSAGES,
    DISCORD_EPOCH_MS,
    DM,
    EPHEMERAL,
    GUILD_MESSAGES,
    INTERACTION_DEADLINE,
    JSON,
    LOADING,
    Kind,
)
from tests.fakes.discord.payloads import member_json, named, opt_int, user_json, utc_now
from tests.fakes.discord.state import (
    Call,
    Connection,
    DiscordMessage,
    Event,
    Fault,
    Guild,
    Interaction,
    Message,
    Sent,
    Session,
)
from tests.fakes.discord.validation import ApiError, check_message, invalid, is_empty
from tests.fakes.threaded import ThreadedServer

_MENTION = re.compile(r"<@!?(\d+)>")


class World:
    """The state of one fake Discord and the operations on it shared by REST, gateway and tests."""

    _http: ThreadedServer

    def __init__(self, token: str, bot_id: int, app_id: int | None, bot_name: str,
                 owner_id: int) -> None:
        self.token, self.bot_id = token, bot_id
        self.app_id = bot_id if app_id is None else app_id
        self.owner_id = owner_id
        self.bot_user = user_json(bot_id, bot_name, bot=True)
        self.interaction_deadline = INTERACTION_DEADLINE
        self.calls: list[tuple[str, str, int]] = []  # (method, path under /api/v10, status)
        self._records: list[Sent] = []
        self._unhandled: list[str] = []
        self._guilds: dict[int, Guild] = {}
        self._channels: dict[int, JSON] = {}  # guild channels, threads and DMs
        self._users: dict[int, JSON] = {bot_id: self.bot_user,
                                        owner_id: user_json(owner_id, "owner")}
        self._messages: dict[int, Message] = {}
        self._starters: dict[int, int | None] = {}  # thread id -> starter message id
        self._interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, int] = {}
        self._commands: dict[int | None, list[JSON]] = {}  # by guild id, None for global
        self._cdn: dict[int, tuple[str, bytes]] = {}  # attachment id -> (file name, content)
        self._faults: list[Fault] = []
        self._events: list[Event] = []
        self._sessions: dict[str, Session] = {}
        self._connections: list[Connection] = []
        self._identifies: list[JSON] = []
        self._resumes: list[JSON] = []
        self._taken = 0  # events before this index went to some session
        self._last_id = 0
        self._cond = threading.Condition()  # an RLock inside; guards all of the above
        self._listeners: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gateway_port: int | None = None

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def rest_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        assert self._gateway_port is not None, "server not started"
        return f"ws://127.0.0.1:{self._gateway_port}/gateway"

    # -- events for the gateway, with the lock held --------------------------------------

    def _emit(self, conn: Connection, t: str, d: JSON) -> None:
        """Send one dispatch on the connection's session (in the server loop, lock held)."""
        session = conn.session
        assert session is not None
        session.seq += 1
        frame: JSON = {"op": 0, "t": t, "s": session.seq, "d": d}
        session.sent.append(frame)
        conn.put(frame)
        if t == "INTERACTION_CREATE":
            interaction = self._interactions[int(d["id"])]
            if interaction.sent_at is None:
                interaction.sent_at = time.monotonic()

    def _pump(self, conn: Connection) -> None:
        """Send the connection's session every queued event it has not had yet."""
        with self._cond:
            session = conn.session
            if session is None or session.conn is not conn:
                return
            while session.cursor < len(self._events):
                event = self._events[session.cursor]
                session.cursor += 1
                if (d := event.visible(session.intents)) is not None:
                    self._emit(conn, event.t, d)
            self._taken = max(self._taken, session.cursor)

    def _dispatch(self, t: str, d: JSON, intent: int = 0, gated: bool = False) -> None:
        """Queue an event for the client: the session attached now, or the next one."""
        self._events.append(Event(t, d, intent, gated))
        for conn in self._connections:
            self._in_loop(self._pump, conn)

    def _live_dispatch(self, t: str, d: JSON, intent: int = 0) -> None:
        """Dispatch a change of the world, unless no client has connected yet (READY and
        GUILD_CREATE will carry it)."""
        if self._sessions:
            self._dispatch(t, d, intent)

    def _dispatch_message(self, t: str, message: Message) -> None:
        if message.json["flags"] & EPHEMERAL:
            return
        d = copy.deepcopy(message.json)
        channel = self._channels[int(d["channel_id"])]
        author_id = int(d["author"]["id"])
        if (guild_id := channel.get("guild_id")) is not None:
            d["guild_id"] = guild_id
            if not d.get("webhook_id"):
                member = self._member_of(int(guild_id), author_id)
                d["member"] = {k: v for k, v in member.items() if k != "user"}
        mentioned = any(u["id"] == str(self.bot_id) for u in d["mentions"])
        gated = guild_id is not None and author_id != self.bot_id and not mentioned
        self._dispatch(t, d, GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES, gated)

    def _in_loop(self, callback: Callable[..., object], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the server loop has closed
                self._loop.call_soon_threadsafe(callback, *args)

    # -- state, with the lock held ---------------------------------------------------------

    def _guild(self, guild_id: int) -> Guild:
        if (guild := self._guilds.get(guild_id)) is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def _channel(self, channel_id: int) -> JSON:
        if (channel := self._channels.get(channel_id)) is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _message_in(self, call: Call) -> Message:
        self._channel(call.params["channel_id"])
        message = self._messages.get(call.params["message_id"])
        if message is None or message.json["channel_id"] != str(call.params["channel_id"]):
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _user(self, user_id: int) -> JSON:
        if user_id not in self._users:
            self._users[user_id] = user_json(user_id, f"user{user_id}")
        return self._users[user_id]

    def _member_of(self, guild_id: int, user_id: int) -> JSON:
        member = self._guild(guild_id).members.get(user_id)
        return member or member_json(self._user(user_id), [], self._guild(guild_id).joined_at)

    def _dm_channel(self, channel_id: int, user_id: int) -> JSON:
        if (channel := self._channels.get(channel_id)) is None:
            channel = {"id": str(channel_id), "type": DM, "last_message_id": None, "flags": 0,
                       "recipients": [self._user(user_id)]}
            self._channels[channel_id] = channel
        elif channel["recipients"][0]["id"] != str(user_id):
            raise AssertionError(f"DM channel {channel_id} is with {channel['recipients'][0]['id']}"
                                 f", not {user_id}")
        return channel

    def _new_thread(self, parent: JSON, thread_id: int, name: str, kind: int, owner_id: int,
                    auto_archive: int, starter: int | None) -> JSON:
        now = utc_now()
        thread: JSON = {
            "id": str(thread_id), "type": kind, "guild_id": parent["guild_id"],
            "parent_id": parent["id"], "owner_id": str(owner_id), "name": name,
            "last_message_id": None, "message_count": 0, "total_message_sent": 0,
            "member_count": 1, "rate_limit_per_user": 0, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": auto_archive,
                                "archive_timestamp": now, "locked": False,
                                "create_timestamp": now, "invitable": True}}
        self._channels[thread_id] = thread
        self._starters[thread_id] = starter
        return thread

    def _guild_json(self, guild: Guild) -> JSON:
        channels = [c for c in self._channels.values() if c.get("guild_id") == str(guild.id)]
        return copy.deepcopy({
            "id": str(guild.id), "name": guild.name, "icon": None, "description": None,
            "owner_id": str(self.owner_id), "unavailable": False, "large": False,
            "member_count": len(guild.members), "joined_at": guild.joined_at,
            "roles": list(guild.roles.values()), "members": list(guild.members.values()),
            "channels": [c for c in channels if "thread_metadata" not in c],
            "threads": [c for c in channels if "thread_metadata" in c
                        and not c["thread_metadata"]["archived"]],
            "emojis": [], "stickers": [], "features": [], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "preferred_locale": "en-US", "verification_level": 0, "mfa_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "nsfw_level": 0,
            "premium_tier": 0, "afk_timeout": 300, "system_channel_flags": 0})

    def _new_message(self, channel: JSON, author: JSON, body: JSON,
                     files: dict[int, tuple[str, bytes]], *, flags: int = 0,
                     interaction_id: int | None = None) -> Message:
        reference = body.get("message_reference") or {}
        referenced = None
        if (ref_id := opt_int(reference.get("message_id"))) is not None:
            referenced = self._messages.get(ref_id)
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise invalid([(("message_reference",), "REPLIES_UNKNOWN_MESSAGE",
                                 "Unknown message")])
        content = body.get("content") or ""
        json_: JSON = {
            "id": str(self._snowflake()), "channel_id": channel["id"], "author": author,
            "content": content, "timestamp": utc_now(), "edited_timestamp": None,
            "tts": bool(body.get("tts")), "mention_everyone": False,
            "mentions": [self._user(int(u)) for u in dict.fromkeys(_MENTION.findall(content))],
            "mention_roles": [], "attachments": self._attachments([], body, files),
            "embeds": body.get("embeds") or [], "pinned": False,
            "type": 19 if referenced else 0, "components": body.get("components") or [],
            "flags": flags}
        if referenced is not None:
            json_["message_reference"] = {"type": 0, "message_id": referenced.json["id"],
                                          "channel_id": referenced.json["channel_id"]}
            json_["referenced_message"] = {k: v for k, v in referenced.json.items()
                                           if k != "referenced_message"}
        if interaction_id is not None:
            json_["webhook_id"] = json_["application_id"] = str(self.app_id)
        message = Message(copy.deepcopy(json_), interaction_id=interaction_id)
        self._messages[message.id] = message
        channel["last_message_id"] = json_["id"]
        if "thread_metadata" in channel:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        return message

    def _interaction_message(self, channel: JSON, interaction: Interaction, body: JSON,
                             files: dict[int, tuple[str, bytes]], flags: int) -> Message:
        return self._new_message(channel, self.bot_user, body, files, flags=flags & (
            EPHEMERAL | LOADING | COMPONENTS_V2 | 4 | 4096), interaction_id=interaction.id)

    def _attachments(self, existing: list[JSON], body: JSON,
                     files: dict[int, tuple[str, bytes]]) -> list[JSON]:
        """The message's attachments: the `existing` ones the body keeps, then new uploads."""
        listed = body.get("attachments")
        keep = existing if listed is None else [
            a for a in existing if a["id"] in {str(x.get("id")) for x in listed}]
        described = {str(x.get("id")): x for x in listed or []}
        new = []
        for index, (name, data) in sorted(files.items()):
            attachment_id = self._snowflake()
            self._cdn[attachment_id] = (name, data)
            url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{quote(name, safe='')}"
            new.append({"id": str(attachment_id), "filename": name, "size": len(data),
                        "url": url, "proxy_url": url, "content_type": "application/octet-stream",
                        "description": described.get(str(index), {}).get("description")})
        return [*keep, *new]

    def _edit(self, message: Message, body: JSON, files: dict[int, tuple[str, bytes]]) -> None:
        """Apply an edit after checking it as Discord does: only the keys the body has."""
        check_message(body, files, edit=True)
        edited = copy.deepcopy(message.json)
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in body:
                edited[key] = body[key] if body[key] is not None else empty
        if body.get("flags") is not None:  # ephemeral stays as it was; loading ends on any edit
            kept = edited["flags"] & EPHEMERAL
            edited["flags"] = kept | (body["flags"] & ~(EPHEMERAL | LOADING))
        edited["flags"] &= ~LOADING
        if "attachments" in body or files:
            edited["attachments"] = self._attachments(edited["attachments"], body, files)
        if is_empty(edited):
            raise ApiError(400, 50006, "Cannot send an empty message")
        edited["edited_timestamp"] = utc_now()
        message.json, message.edits = edited, message.edits + 1
        self._dispatch_message("MESSAGE_UPDATE", message)

    def _delete(self, message: Message, interaction_id: int | None) -> None:
        del self._messages[message.id]
        channel_id = int(message.json["channel_id"])
        guild_id = self._channels[channel_id].get("guild_id")
        self._record(Sent("delete", channel_id, message.id, interaction_id=interaction_id,
                          guild_id=opt_int(guild_id)))
        if not message.json["flags"] & EPHEMERAL:
            d = {"id": message.json["id"], "channel_id": str(channel_id)}
            if guild_id is not None:
                d["guild_id"] = guild_id
            self._dispatch("MESSAGE_DELETE", d, GUILD_MESSAGES if guild_id else DIRECT_MESSAGES)


    def _snapshot(self, message: Message) -> DiscordMessage:
        j = copy.deepcopy(message.json)
        return DiscordMessage(
            message.id, int(j["channel_id"]), int(j["author"]["id"]), j["content"], j["embeds"],
            j["components"], [self._cdn[int(a["id"])] for a in j["attachments"]], j["flags"],
            message.edits, opt_int(j.get("message_reference", {}).get("message_id")),
            message.interaction_id)

    def _record_message(self, kind: Kind, message: Message, body: JSON,
                        files: dict[int, tuple[str, bytes]],
                        interaction_id: int | None = None) -> None:
        j = message.json
        channel = self._channels[int(j["channel_id"])]
        self._record(Sent(kind, int(j["channel_id"]), message.id, j["content"], j["embeds"],
                          j["components"], named(files), j["flags"],
                          opt_int(j.get("message_reference", {}).get("message_id")),
                          interaction_id=interaction_id or message.interaction_id,
                          guild_id=opt_int(channel.get("guild_id")), data=body))

    def _record(self, sent: Sent) -> None:
        self._records.append(copy.deepcopy(sent))
        self._changed()

    def _changed(self) -> None:
        for notify in self._listeners:
            notify()

    def _snowflake(self) -> int:
        self._last_id = max(self._last_id + 1,
                            (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
        return self._last_id
