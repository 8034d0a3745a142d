"""The REST handlers (channels, messages, threads, DMs, interactions, webhooks,
application commands), called with the lock held."""

from __future__ import annotations

import copy
import time

from tests.fakes.discord.constants import (
    APPLICATION_FLAGS,
    DM,
    EPHEMERAL,
    GUILDS,
    JSON,
    LOADING,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Kind,
)
from tests.fakes.discord.payloads import named, opt_int
from tests.fakes.discord.state import Call, Interaction, InteractionCallback, Message, Sent
from tests.fakes.discord.validation import (
    BETWEEN_1_100,
    ApiError,
    check_commands,
    check_message,
    invalid,
)
from tests.fakes.discord.world import World


class Handlers(World):
    """One method per REST route; an `ApiError` becomes Discord's error answer."""

    def _application(self, call: Call) -> JSON:
        return {"id": str(self.app_id), "name": self.bot_user["username"], "description": "",
                "icon": None, "bot_public": False, "bot_require_code_grant": False,
                "owner": self._users[self.owner_id], "team": None, "verify_key": "0" * 64,
                "flags": APPLICATION_FLAGS, "bot": self.bot_user, "rpc_origins": [],
                "summary": "", "interactions_endpoint_url": None}

    def _edit_channel(self, call: Call) -> JSON:
        channel, body = self._channel(call.params["channel_id"]), call.body or {}
        problems: list[tuple[tuple[str | int, ...], str, str]] = []
        if "name" in body and not 1 <= len(body["name"] or "") <= 100:
            problems.append((("name",), "BASE_TYPE_BAD_LENGTH", BETWEEN_1_100))
        if len(body.get("topic") or "") > 1024:
            problems.append((("topic",), "BASE_TYPE_MAX_LENGTH",
                             "Must be 1024 or fewer in length."))
        if problems:
            raise invalid(problems)
        for key in ("name", "topic", "nsfw", "rate_limit_per_user"):
            if key in body and (key != "topic" or channel["type"] == TEXT):
                channel[key] = body[key]
        if "thread_metadata" in channel:
            for key in ("archived", "locked", "auto_archive_duration", "invitable"):
                if key in body:
                    channel["thread_metadata"][key] = body[key]
        kind: Kind = "topic" if "topic" in body else "channel_edit"
        self._record(Sent(kind, int(channel["id"]), content=body.get("topic", body.get("name")),
                          guild_id=opt_int(channel.get("guild_id")), data=body))
        t = "THREAD_UPDATE" if "thread_metadata" in channel else "CHANNEL_UPDATE"
        self._dispatch(t, copy.deepcopy(channel), GUILDS)
        return copy.deepcopy(channel)

    def _send_message(self, call: Call) -> JSON:
        channel, body = self._channel(call.params["channel_id"]), call.body or {}
        check_message(body, call.files)
        message = self._new_message(channel, self.bot_user, body, call.files,
                                    flags=(body.get("flags") or 0) & ~(EPHEMERAL | LOADING))
        self._record_message("message", message, body, call.files)
        self._dispatch_message("MESSAGE_CREATE", message)
        return copy.deepcopy(message.json)

    def _edit_message(self, call: Call) -> JSON:
        message = self._message_in(call)
        if message.json["author"]["id"] != str(self.bot_id):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._edit(message, call.body or {}, call.files)
        self._record_message("edit", message, call.body or {}, call.files)
        return copy.deepcopy(message.json)

    def _delete_message(self, call: Call) -> None:
        self._delete(self._message_in(call), None)

    def _react(self, call: Call) -> None:
        message = self._message_in(call)
        channel = self._channel(call.params["channel_id"])
        self._record(Sent("reaction", int(channel["id"]), message.id, call.params["emoji"],
                          guild_id=opt_int(channel.get("guild_id"))))

    def _typing(self, call: Call) -> None:
        channel = self._channel(call.params["channel_id"])
        self._record(Sent("typing", int(channel["id"]), guild_id=opt_int(channel.get("guild_id"))))

    def _thread_from_message(self, call: Call) -> JSON:
        message, body = self._message_in(call), call.body or {}
        parent = self._channel(call.params["channel_id"])
        if parent["type"] != TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if message.id in self._channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        return self._start_thread(parent, message.id, body, PUBLIC_THREAD, message.id)

    def _thread_without_message(self, call: Call) -> JSON:
        parent, body = self._channel(call.params["channel_id"]), call.body or {}
        if parent["type"] != TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        kind = body.get("type") or PRIVATE_THREAD
        if kind not in (PUBLIC_THREAD, PRIVATE_THREAD):
            raise invalid([(("type",), "BASE_TYPE_CHOICES", "Value must be one of (11, 12).")])
        return self._start_thread(parent, self._snowflake(), body, kind, None)

    def _start_thread(self, parent: JSON, thread_id: int, body: JSON, kind: int,
                      starter: int | None) -> JSON:
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise invalid([(("name",), "BASE_TYPE_BAD_LENGTH", BETWEEN_1_100)])
        thread = self._new_thread(parent, thread_id, name, kind, self.bot_id,
                                  body.get("auto_archive_duration") or 1440, starter)
        self._record(Sent("thread", int(parent["id"]), starter, name, thread_id=thread_id,
                          guild_id=int(parent["guild_id"]), data=body))
        self._dispatch("THREAD_CREATE", {**copy.deepcopy(thread), "newly_created": True}, GUILDS)
        return copy.deepcopy(thread)

    def _open_dm(self, call: Call) -> JSON:
        user_id = int((call.body or {}).get("recipient_id") or 0)
        for channel in self._channels.values():
            if channel["type"] == DM and channel["recipients"][0]["id"] == str(user_id):
                return copy.deepcopy(channel)
        return copy.deepcopy(self._dm_channel(self._snowflake(), user_id))

    def _callback(self, call: Call) -> JSON | None:
        interaction = self._interactions.get(call.params["interaction_id"])
        if interaction is None or interaction.token != call.params["token"] or (
                interaction.callback is None and interaction.sent_at is not None
                and time.monotonic() - interaction.sent_at > self.interaction_deadline):
            raise ApiError(404, 10062, "Unknown interaction")
        if interaction.callback is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = call.body or {}
        kind, data = body.get("type"), body.get("data") or {}
        channel = self._channel(interaction.channel_id)
        clicked = self._messages.get(interaction.message_id or 0)
        if kind in (6, 7) and clicked is None:
            raise invalid([(("type",), "INTERACTION_TYPE_INVALID",
                             "Only valid for component interactions")])
        if kind == 4:
            check_message(data, call.files)
            message = self._interaction_message(channel, interaction, data, call.files,
                                                data.get("flags") or 0)
        elif kind == 5:
            message = self._interaction_message(channel, interaction, {}, {},
                                                LOADING | ((data.get("flags") or 0) & EPHEMERAL))
            interaction.loading = True
        elif kind == 6 and clicked is not None:
            message = clicked
        elif kind == 7 and clicked is not None:
            self._edit(clicked, data, call.files)
            message = clicked
        elif kind in (8, 9):
            message = None
        else:
            raise invalid([(("type",), "BASE_TYPE_CHOICES", "Value must be one of (4, 5, 6, 7, "
                                                             "8, 9).")])
        interaction.original_id = message.id if message else None
        interaction.callback = InteractionCallback(interaction.id, kind, copy.deepcopy(data),
                                                   interaction.original_id)
        self._record(Sent("interaction_response", interaction.channel_id,
                          interaction.original_id, data.get("content"), data.get("embeds") or [],
                          data.get("components") or [], named(call.files),
                          data.get("flags") or 0, interaction_id=interaction.id,
                          interaction_type=kind, guild_id=opt_int(channel.get("guild_id")),
                          data=body))
        if kind in (4, 5) and message is not None:
            self._dispatch_message("MESSAGE_CREATE", message)
        if call.query.get("with_response") not in ("1", "true", "True"):
            return None
        response: JSON = {"interaction": {
            "id": str(interaction.id), "type": 2 if clicked is None else 3,
            "response_message_loading": interaction.loading,
            "response_message_ephemeral": bool(message and message.json["flags"] & EPHEMERAL)},
            "resource": {"type": kind}}
        if message is not None:
            response["interaction"]["response_message_id"] = str(message.id)
            response["resource"]["message"] = copy.deepcopy(message.json)
        return response

    def _followup(self, call: Call) -> JSON | None:
        interaction, body = self._by_webhook(call), call.body or {}
        if interaction.callback is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        check_message(body, call.files)
        channel = self._channel(interaction.channel_id)
        if interaction.loading and interaction.original_id is not None:
            message = self._messages[interaction.original_id]  # fills the "thinking" message
            self._edit(message, {**body, "flags": message.json["flags"] & EPHEMERAL}, call.files)
            interaction.loading = False
        else:
            message = self._interaction_message(channel, interaction, body, call.files,
                                                body.get("flags") or 0)
            self._dispatch_message("MESSAGE_CREATE", message)
        self._record_message("followup", message, body, call.files)
        return copy.deepcopy(message.json) if call.query.get("wait") in ("1", "true") else None

    def _webhook_message(self, call: Call, message_id: int | None) -> Message:
        interaction = self._by_webhook(call)
        target = interaction.original_id if message_id is None else message_id
        message = self._messages.get(target or 0)
        if message is None or message_id is not None and message.interaction_id != interaction.id:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _webhook_edit(self, call: Call, message_id: int | None) -> JSON:
        message, body = self._webhook_message(call, message_id), call.body or {}
        self._edit(message, body, call.files)
        interaction = self._by_webhook(call)
        if message.id == interaction.original_id:
            interaction.loading = False
        self._record_message("edit", message, body, call.files, interaction.id)
        return copy.deepcopy(message.json)

    def _webhook_delete(self, call: Call, message_id: int | None) -> None:
        self._delete(self._webhook_message(call, message_id), self._by_webhook(call).id)

    def _by_webhook(self, call: Call) -> Interaction:
        iid = self._by_token.get(call.params["token"])
        if call.params["app_id"] != self.app_id or iid is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        return self._interactions[iid]

    def _put_commands(self, call: Call, guild_id: int | None) -> list[JSON]:
        self._check_app(call)
        if guild_id is not None:
            self._guild(guild_id)
        body = call.body if isinstance(call.body, list) else []
        check_commands(body)
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self._commands.get(guild_id, [])}
        commands = []
        for command in body:
            key = (command["name"], command.get("type") or 1)
            stored: JSON = {"type": 1, "description": "", "options": [], "nsfw": False,
                            "default_member_permissions": None, **command,
                            "id": old.get(key) or str(self._snowflake()),
                            "application_id": str(self.app_id), "version": str(self._snowflake())}
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            commands.append(stored)
        self._commands[guild_id] = commands
        self._record(Sent("commands", guild_id=guild_id, data=copy.deepcopy(commands)))
        return copy.deepcopy(commands)

    def _get_commands(self, call: Call, guild_id: int | None) -> list[JSON]:
        self._check_app(call)
        return copy.deepcopy(self._commands.get(guild_id, []))

    def _check_app(self, call: Call) -> None:
        if call.params["app_id"] != self.app_id:
            raise ApiError(403, 20012, "You are not authorized to perform this action on this "
                                       "application")
