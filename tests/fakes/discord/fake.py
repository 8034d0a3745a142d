"""`FakeDiscord`: lifecycle, the world tests set up, and what the bot did."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import discord.gateway
import discord.http
import yarl
from starlette.applications import Starlette

from tests.fakes.discord.constants import (
    GUILD_MEMBERS,
    GUILDS,
    JSON,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Kind,
)
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.payloads import member_json, role_json, user_json, utc_now
from tests.fakes.discord.rest import Rest
from tests.fakes.discord.state import (
    DiscordMessage,
    DiscordThread,
    Guild,
    InteractionCallback,
    Sent,
    thread_view,
)
from tests.fakes.discord.users import UserActions
from tests.fakes.threaded import ThreadedServer, wait_until


class FakeDiscord(UserActions, Rest, Gateway):
    """Discord for one bot, on 127.0.0.1:<free ports>; every public method is thread-safe."""

    def __init__(self, token: str = "FAKE.DISCORD.TOKEN", bot_id: int = 1_000_001,
                 app_id: int | None = None, bot_name: str = "gluon", owner_id: int = 1) -> None:
        super().__init__(token, bot_id, app_id, bot_name, owner_id)
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan,
                             exception_handlers={404: self._no_route, 405: self._no_route})
        self._http = ThreadedServer(self.app, "fake-discord")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving; returns once both ports listen."""
        self._http.start()
        if self._gateway_port is None:
            raise RuntimeError("fake Discord server did not start")

    def stop(self) -> None:
        """Close gateway connections and stop serving. Safe to call twice."""
        self._http.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (REST, webhooks, interactions, gateway) at this fake meanwhile."""
        route, ws = discord.http.Route, discord.gateway.DiscordWebSocket
        saved = route.BASE, ws.DEFAULT_GATEWAY
        route.BASE, ws.DEFAULT_GATEWAY = self.rest_base, yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            route.BASE, ws.DEFAULT_GATEWAY = saved

    # -- test side: the world before and while the bot runs --------------------------------

    def add_guild(self, guild_id: int, name: str) -> None:
        with self._cond:
            everyone = role_json(guild_id, "@everyone", 0)
            guild = Guild(guild_id, name, {guild_id: everyone}, {}, utc_now())
            guild.members[self.bot_id] = member_json(self.bot_user, [], guild.joined_at)
            self._guilds[guild_id] = guild
            self._live_dispatch("GUILD_CREATE", self._guild_json(guild))

    def add_channel(self, guild_id: int, channel_id: int, name: str,
                    topic: str | None = None) -> None:
        with self._cond:
            self._guild(guild_id)
            position = sum(1 for c in self._channels.values() if c.get("guild_id") == str(guild_id))
            channel = {"id": str(channel_id), "type": TEXT, "guild_id": str(guild_id),
                       "name": name, "topic": topic, "position": position, "nsfw": False,
                       "permission_overwrites": [], "parent_id": None, "last_message_id": None,
                       "rate_limit_per_user": 0, "flags": 0}
            self._channels[channel_id] = channel
            self._live_dispatch("CHANNEL_CREATE", copy.deepcopy(channel), GUILDS)

    def add_thread(self, guild_id: int, parent_id: int, thread_id: int, name: str, *,
                   private: bool = False) -> None:
        """A thread that exists already (the bot sees it in GUILD_CREATE)."""
        with self._cond:
            parent = self._channel(parent_id)
            assert parent.get("guild_id") == str(guild_id), f"{parent_id} not in guild {guild_id}"
            thread = self._new_thread(parent, thread_id, name, PRIVATE_THREAD if private
                                      else PUBLIC_THREAD, self.owner_id, 1440, None)
            self._live_dispatch("THREAD_CREATE", copy.deepcopy(thread), GUILDS)

    def add_role(self, guild_id: int, role_id: int, name: str) -> None:
        with self._cond:
            guild = self._guild(guild_id)
            guild.roles[role_id] = role = role_json(role_id, name, len(guild.roles))
            self._live_dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role},
                                GUILDS)

    def add_member(self, guild_id: int, user_id: int, name: str,
                   roles: list[int] | None = None) -> None:
        with self._cond:
            guild, user = self._guild(guild_id), self.add_user(user_id, name)
            unknown = set(roles or []) - set(guild.roles)
            assert not unknown, f"no roles {sorted(unknown)} in guild {guild_id}"
            guild.members[user_id] = member = member_json(user, roles or [], utc_now())
            self._live_dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": str(guild_id)},
                                GUILD_MEMBERS)

    def add_user(self, user_id: int, name: str) -> JSON:
        """A user by name (for DMs); members are users already."""
        with self._cond:
            self._users[user_id] = user = user_json(user_id, name)
            return user

    # -- test side: what the bot did -------------------------------------------------------

    def sent(self, channel_id: int | None = None, kind: Kind | None = None) -> list[Sent]:
        """Everything the bot did (in `channel_id`, of `kind`), oldest first."""
        with self._cond:
            return [r for r in self._records
                    if channel_id in (None, r.channel_id) and kind in (None, r.kind)]

    def message(self, message_id: int) -> DiscordMessage:
        """Any message as it is now; KeyError if there is none (or it was deleted)."""
        with self._cond:
            return self._snapshot(self._messages[message_id])

    def messages(self, channel_id: int | None = None) -> dict[int, DiscordMessage]:
        """The bot's undeleted messages (in `channel_id`) by id, oldest first."""
        with self._cond:
            return {m.id: self._snapshot(m) for m in self._messages.values()
                    if m.json["author"]["id"] == str(self.bot_id)
                    and channel_id in (None, int(m.json["channel_id"]))}

    def channel(self, channel_id: int) -> JSON:
        """A channel, thread or DM channel as Discord would return it now."""
        with self._cond:
            return copy.deepcopy(self._channel(channel_id))

    @property
    def threads(self) -> dict[int, DiscordThread]:
        with self._cond:
            return {tid: thread_view(self._channels[tid], starter)
                    for tid, starter in self._starters.items()}

    @property
    def interaction_responses(self) -> dict[int, InteractionCallback]:
        with self._cond:
            return {i.id: i.callback for i in self._interactions.values() if i.callback}

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """The synced application commands (global, or of `guild_id`), with their ids."""
        with self._cond:
            return copy.deepcopy(self._commands.get(guild_id, []))

    @property
    def unhandled(self) -> list[str]:
        """"METHOD /path" of every request to a route the fake does not implement."""
        with self._cond:
            return list(self._unhandled)

    @property
    def identifies(self) -> list[JSON]:
        """The IDENTIFY payloads (without the token), oldest first."""
        with self._cond:
            return copy.deepcopy(self._identifies)

    @property
    def resumes(self) -> list[JSON]:
        """The RESUME payloads (without the token) of sessions that did resume."""
        with self._cond:
            return copy.deepcopy(self._resumes)

    @property
    def connected(self) -> bool:
        """Whether a client has an identified or resumed gateway connection."""
        with self._cond:
            return any(c.session is not None and c.session.conn is c for c in self._connections)

    async def wait_for(self, predicate: Callable[[FakeDiscord], bool],
                       timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until `predicate(self)` holds, re-checking it after every change; else raise
        AssertionError with what the bot did. A LookupError in `predicate` means "not yet"."""
        await wait_until(self._cond, self._listeners, lambda: predicate(self), self.dump,
                         timeout)

    def dump(self) -> str:
        """What the bot did and the gateway state, one line each, for assertion messages."""
        with self._cond:
            lines = [f"  {r.kind} channel={r.channel_id} #{r.message_id} {r.content!r}"
                     + (f" buttons={r.buttons}" if r.buttons else "")
                     + (f" files={[name for name, _ in r.files]}" if r.files else "")
                     for r in self._records]
            lines += [f"  unhandled: {u}" for u in self._unhandled]
            lines.append(f"  gateway: {len(self._identifies)} identify, {len(self._resumes)} "
                         f"resume, {'connected' if self.connected else 'not connected'}")
        return "the bot did:\n" + "\n".join(lines)
