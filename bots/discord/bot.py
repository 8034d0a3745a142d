"""The Discord bot: discord.py (gateway, message-content intent) in front of the orchestrator.

- Access is denied by default, by the same users, roles and pairing codes as Telegram (ids
  namespaced ``discord:<id>``), plus optional Discord roles mapped to Gluon roles. Only
  ``pair CODE`` answers strangers; what else they address to the bot is refused (with their
  id and how to get in) and logged.
- In a guild, the bot answers when mentioned, in a channel linked to a project (``link NAME``)
  and in the threads of its runs; in DMs it always answers. ``discord.guild`` restricts it to
  the configured guild(s).
- A channel's topic (``--project NAME --model M``) or link sets the defaults of requests made
  there; ``project:NAME`` or ``-p NAME`` in a message picks the project.
- Each run started in a channel gets a thread, made from the request message: its run card
  (an embed, edited in place) and its questions go there, what people write there steers the
  run (or resumes it once it has ended), and the completion ping mentions who started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import re
from collections import OrderedDict
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from bots.chat.commands import run_command
from bots.chat.followed import Followed, as_int
from bots.chat.orchestrator import Hints, Orchestrator, parse_hints
from bots.chat.render import truncate_line
from bots.chat.surface import ChatSurface
from bots.chat.types import OutFile, Reply, Speaker
from bots.discord import voice
from bots.discord.client import GluonClient
from bots.discord.commands import DISCORD_HELP
from bots.discord.ui import (
    DYNAMIC_ITEMS,
    UPLOAD_BYTES,
    clip,
    follow_up,
    question_text,
    question_view,
    run_card,
    send_privately,
    send_to,
)
from core.errors import UserError
from core.models import Interaction, Run
from core.runs.uploads import check_size, save_upload
from core.runtime import Runtime
from core.types import Role

log = logging.getLogger(__name__)

PLATFORM = "discord"
SEEN = 2048  # message ids remembered, so a redelivered message is handled once
HANDLING_GRACE = 5.0  # seconds the messages being answered get when the bot stops
# Words for the bot itself, only as the whole message ("link the button to the page" is a
# request for the agent, not a link).
WORDS = re.compile(r"^(help|unlink|link\s+[\w.\-]+|pair\s+[\w\-]+|/?web(\s+(sign|log)"
                   r"[\s-]*out)?)$", re.IGNORECASE)

_request: contextvars.ContextVar[discord.Message | None] = contextvars.ContextVar(
    "discord_request", default=None)


class DiscordBot(ChatSurface):
    platform = PLATFORM
    upload_limit = UPLOAD_BYTES

    def __init__(self, runtime: Runtime, orchestrator: Orchestrator, token: str, *,
                 guild_ready_timeout: float = 2.0) -> None:
        super().__init__(runtime, orchestrator)
        self.token = token
        self.config = runtime.config.discord
        if self.config.api_base_url:  # a REST proxy in front of Discord
            discord.http.Route.BASE = self.config.api_base_url.rstrip("/")
        if self.config.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.config.gateway_url)
        self._ready_timeout = guild_ready_timeout
        self.client = self._make_client()
        self._runner: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[Any]] = set()  # messages being answered
        self._seen: OrderedDict[int, None] = OrderedDict()
        orchestrator.link_hooks[PLATFORM] = self._on_linked
        orchestrator.defaults_hooks[PLATFORM] = self._defaults
        orchestrator.private_hooks[PLATFORM] = lambda speaker, reply: send_privately(
            self.client, int(speaker.user_id), reply)

    # -- lifecycle -------------------------------------------------------------------------

    def _make_client(self) -> GluonClient:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enabled in the Developer Portal
        return GluonClient(
            self, intents=intents, guild_ready_timeout=self._ready_timeout,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True,
                                                     replied_user=False))

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def start(self, ready_timeout: float = 60.0) -> None:
        """Log in (a refused token raises ``discord.LoginFailure``), connect to the gateway
        (discord.py reconnects and resumes by itself from then on) and wait until ready."""
        await self.client.login(self.token)
        self._runner = asyncio.create_task(self._connect(), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._runner}, timeout=ready_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._runner in done:
                self._runner.result()  # raises what stopped the connection
            raise TimeoutError("the Discord gateway did not get ready")
        await self.start_reports()

    async def _connect(self) -> None:
        await self.client.connect(reconnect=True)

    async def wait_closed(self) -> None:
        """Until the gateway connection ends for good (discord.py reconnects and resumes by
        itself until a close it cannot recover from); raises what ended it."""
        if self._runner is not None:
            await asyncio.wait({self._runner})
            self._runner.result()

    async def setup(self) -> None:
        """After login, before the gateway: buttons of earlier messages, slash commands."""
        self.client.add_dynamic_items(*DYNAMIC_ITEMS)
        tree = self.client.tree
        try:
            for guild_id in self.config.guild:
                guild = discord.Object(guild_id)
                tree.copy_global_to(guild=guild)
                await tree.sync(guild=guild)
            if not self.config.guild:
                await tree.sync()  # global commands can take a while to show up in clients
        except discord.HTTPException as exc:
            log.error("could not register the slash commands (%s): invite the bot with the "
                      "applications.commands scope, and check discord.guild; messages and "
                      "buttons work meanwhile", exc.text or exc.status)

    async def reset(self) -> None:
        """Undo a start that failed half-way, so it can be tried again."""
        await self.stop(closing_orchestrator=False)
        self.client = self._make_client()

    async def stop(self, closing_orchestrator: bool = True) -> None:
        await self.stop_reports()
        if self._handling:  # answers being sent get to arrive before the connection closes
            await asyncio.wait(self._handling, timeout=HANDLING_GRACE)
        with contextlib.suppress(Exception):
            await self.client.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(BaseException):
                await self._runner
            self._runner = None
        if closing_orchestrator:
            await self.orch.close()

    # -- who is speaking, where ------------------------------------------------------------

    async def role_of(self, user: discord.abc.User) -> Role | None:
        """The user's Gluon role: from the config or pairing, or from a mapped Discord role
        in a guild this bot serves; the highest of them."""
        found: list[Role] = []
        role = await self.runtime.access.role_of(PLATFORM, str(user.id))
        if role is not None:
            found.append(role)
        if self.config.role_map:
            members = [user] if isinstance(user, discord.Member) else [
                m for g in self.client.guilds if self._serves(g.id)
                for m in [g.get_member(user.id)] if m is not None]
            for member in members:
                if isinstance(member, discord.Member) and self._serves(member.guild.id):
                    for r in member.roles:
                        mapped = self.config.role_map.get(str(r.id)) or \
                            self.config.role_map.get(r.name)
                        if mapped:  # Role(): a config built in code may hold the name
                            found.append(Role(mapped))
        return max(found, key=lambda r: r.rank) if found else None

    def _serves(self, guild_id: int | None) -> bool:
        return guild_id is None or not self.config.guild or guild_id in self.config.guild

    @staticmethod
    def _place(channel: Any) -> tuple[int, int | None]:
        """(chat id, thread id) of a channel: a thread's chat is its parent channel."""
        if isinstance(channel, discord.Thread) and channel.parent_id is not None:
            return channel.parent_id, channel.id
        return int(channel.id), None

    def _place_of(self, channel: Any) -> tuple[int, int | None]:
        chat, thread = self._place(channel)
        if thread is None:  # an uncached thread of one of our runs is still that thread
            for (parent, own), _ in self.thread_runs.items():
                if own == chat:
                    return parent, own
        return chat, thread

    async def speaker_for(self, user: discord.abc.User, channel: Any) -> Speaker | None:
        role = await self.role_of(user)
        if role is None:
            return None
        chat, thread = self._place_of(channel)
        return Speaker(PLATFORM, str(user.id), user.display_name, role, chat_id=str(chat),
                       thread_id=str(thread) if thread is not None else None,
                       private=isinstance(channel, discord.DMChannel))

    async def refuse(self, user: discord.abc.User, where: str) -> str:
        await self.runtime.activity.record(f"{PLATFORM}:{user.id}", "access.denied", where,
                                           "refused")
        return (f"You are not allowed to use this bot. Your Discord user id is {user.id}: ask "
                "an admin to add it to discord.users in Gluon's config, or to run `gluon "
                "pair` and send me `pair CODE` (or /pair) with the code it prints.")

    # -- messages --------------------------------------------------------------------------

    def _first_time(self, key: int) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        return True

    async def on_message(self, message: discord.Message) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            await self._on_message(message)
        except Exception:
            log.exception("discord message %s failed", message.id)
            with contextlib.suppress(discord.HTTPException):
                await self.send(message.channel.id, Reply(
                    "Something went wrong on my side; nothing more was done. Try again, or "
                    "check `gluon serve`'s log.", error=True), reference=message)
        finally:
            self._handling.discard(task)

    async def _on_message(self, message: discord.Message) -> None:
        if message.author.bot or not self._first_time(message.id):
            return
        guild_id = message.guild.id if message.guild is not None else None
        if not self._serves(guild_id):
            log.info("ignoring a message from guild %s (not in discord.guild)", guild_id)
            return
        me = self.client.user
        mentioned = me is not None and any(u.id == me.id for u in message.mentions)
        chat, thread = self._place_of(message.channel)
        run_thread = self.thread_runs.get((chat, thread)) if thread is not None else None
        linked = guild_id is not None and await self._linked(chat) is not None
        if not (guild_id is None or mentioned or run_thread or linked):
            return  # not addressed to the bot
        text = re.sub(rf"<@!?{me.id}>", " ", message.content).strip() if me else \
            message.content.strip()
        word, rest = (text.split(maxsplit=1) + [""])[:2] if WORDS.match(text) else ("", "")
        if word.lower() == "pair":
            await self._pair(message, rest.strip())
            return
        speaker = await self.speaker_for(message.author, message.channel)
        if speaker is None:
            if guild_id is None or mentioned:  # in a busy linked channel, stay quiet
                await self.send(message.channel.id, Reply(await self.refuse(
                    message.author, f"channel {message.channel.id}"), error=True),
                    reference=message)
            return
        if word:
            reply = await self._word(speaker, word.lower(), rest.strip())
            await self._deliver(speaker, reply, message.channel.id, message)
            return
        files = list(message.attachments)
        if not text and (audio := voice.audio_of(message)) is not None:
            files.remove(audio)
            if not (text := await voice.transcribe(self, speaker, message, audio) or ""):
                return  # why not was said
        await self.route(speaker, message, text, mentioned, files)

    async def route(self, speaker: Speaker, message: discord.Message, text: str,
                    mentioned: bool, files: list[discord.Attachment]) -> None:
        """Answer what someone said (typed, or a voice note's transcript) in `message`."""
        chat, thread = self._place_of(message.channel)
        run_thread = self.thread_runs.get((chat, thread)) if thread is not None else None
        if run_thread is not None and not mentioned:  # a mention asks me, not the agent
            reply = await self.steer(speaker, run_thread, text)
        else:
            reply = await self._about_reply(speaker, message, text) or \
                await self._request_reply(speaker, message, text, files)
        await self._deliver(speaker, reply, message.channel.id, message)

    async def _about_reply(self, speaker: Speaker, message: discord.Message,
                           text: str) -> Reply | None:
        """A reply to one of this bot's messages about a run or a question."""
        ref = message.reference.message_id if message.reference is not None else None
        about = await self.about(int(speaker.chat_id), ref) if ref else None
        if about is None:
            return None
        run_id, question = about
        return (await self.answer_text(speaker, question, text) if question
                else await self.steer(speaker, run_id, text))

    async def _request_reply(self, speaker: Speaker, message: discord.Message,
                             text: str, files: list[discord.Attachment]) -> Reply:
        attachments: list[str] = []
        try:
            for attachment in files:
                check_size(attachment.filename, attachment.size)
            for attachment in files:
                attachments.append(str(await save_upload(
                    self.runtime.config.home, attachment.filename, await attachment.read())))
        except UserError as exc:
            return Reply(str(exc), error=True)
        if not text and attachments:
            text = "I sent you a file."
        if not text:
            return Reply("Yes? Tell me what you want done, or say `help`.")
        token = _request.set(message)
        try:
            async with message.channel.typing():
                return await self.orch.handle(speaker, text, attachments=attachments)
        finally:
            _request.reset(token)

    async def _word(self, speaker: Speaker, word: str, rest: str) -> Reply:
        if word == "help":
            return Reply(DISCORD_HELP)
        if word in ("web", "/web"):  # a link goes to a DM (see Orchestrator.give_web_link)
            return await run_command(self.orch, speaker, "web", rest)
        if speaker.thread_id is not None and word in ("link", "unlink"):
            return Reply("Link the channel itself, not a thread: say it in the channel.",
                         error=True)
        if speaker.role is Role.VIEWER:
            return Reply("Viewers cannot link channels.", error=True)
        chat = speaker.chat_id
        if word == "unlink":
            gone = await self.orch.store.unlink_chat(PLATFORM, chat)
            await self.runtime.activity.record(speaker.actor, "chat.unlink", f"channel {chat}",
                                               "ok" if gone else "not linked")
            return Reply("This channel is no longer linked; mention me to talk to me here."
                         if gone else "This channel was not linked to a project.")
        if not rest or len(rest.split()) != 1:
            return Reply("usage: link PROJECT (one of your projects; see /projects)",
                         error=True)
        try:
            project = await self.runtime.projects.get(rest)
        except UserError as exc:
            return Reply(str(exc), error=True)
        await self.orch.store.link_chat(PLATFORM, chat, project.name, speaker.actor)
        await self.runtime.activity.record(speaker.actor, "chat.link", f"channel {chat}",
                                           "ok", project.name)
        return Reply(f"Linked: requests in this channel go to {project.name}; I answer "
                     "every message here (no mention needed).")

    async def _pair(self, message: discord.Message, code: str) -> None:
        reply = await self._pair_reply(message.author, code)
        await self.send(message.channel.id, reply, reference=message)

    async def _pair_reply(self, user: discord.abc.User, code: str) -> Reply:
        if not code.strip():
            return Reply("usage: pair CODE (from `gluon pair`)", error=True)
        try:
            role = await self.runtime.access.pair(PLATFORM, str(user.id), user.display_name,
                                                  code.strip())
        except UserError as exc:
            return Reply(str(exc), error=True)
        return Reply(f"Paired: you are in as {role}. Say `help` to see what I can do.")

    # -- routing: channel defaults and a thread per run ------------------------------------

    async def _linked(self, chat_id: int) -> str | None:
        """The project this channel is linked to: the bot answers every message there."""
        return await self.orch.store.linked_project(PLATFORM, str(chat_id))

    async def _defaults_of(self, chat_id: int) -> Hints:
        """The channel's link, else its topic (``--project X --model Y``): defaults only."""
        channel = self.client.get_channel(chat_id)
        topic = parse_hints(getattr(channel, "topic", None) or "")
        return Hints("", topic.model, await self._linked(chat_id) or topic.project)

    async def _defaults(self, speaker: Speaker) -> Hints:
        return await self._defaults_of(int(speaker.chat_id))

    async def _on_linked(self, run_id: str, speaker: Speaker) -> str | None:
        """A conversation starts following a run. In a guild channel (not a thread, not a
        DM) the run gets a thread of its own, made from the request message if there is one."""
        chat, thread = int(speaker.chat_id), as_int(speaker.thread_id)
        channel = self.client.get_channel(chat)
        own = None
        if thread is None and isinstance(channel, discord.TextChannel):
            own = await self._thread_for(run_id, channel)
        self.follow(run_id, chat, own or thread)
        return str(own) if own is not None else None

    async def _thread_for(self, run_id: str, channel: discord.TextChannel) -> int | None:
        run = await self.runtime.runs.get(run_id)
        name = truncate_line(f"{run.short} · {run.project} · {run.prompt}", 90)
        request = _request.get()
        try:
            # A message has at most one thread, whose id is the message's.
            if request is not None and request.channel.id == channel.id and \
                    all(own != request.id for (_, own) in self.thread_runs):
                made = await request.create_thread(name=name, auto_archive_duration=1440)
            else:  # a slash command, or a second run from one message
                made = await channel.create_thread(
                    name=name, type=discord.ChannelType.public_thread,
                    auto_archive_duration=1440)
        except discord.HTTPException as exc:  # no permission to make threads: stay here
            log.warning("could not make a thread for run %s: %s", run_id, exc)
            return None
        self.thread_runs[(channel.id, made.id)] = run_id
        return made.id

    # -- slash commands --------------------------------------------------------------------

    async def on_slash(self, interaction: discord.Interaction[Any], name: str,
                       rest: str, *, private: bool = False) -> None:  # private: ephemeral
        if not self._serves(interaction.guild_id):
            await interaction.response.send_message("I do not serve this server.",
                                                    ephemeral=True)
            return
        speaker = await self.speaker_for(interaction.user, interaction.channel)
        if speaker is None:
            await interaction.response.send_message(
                await self.refuse(interaction.user, f"/{name}"), ephemeral=True)
            return
        await interaction.response.defer(thinking=True, ephemeral=private)
        if name in ("link", "unlink", "help"):
            reply = await self._word(speaker, name, rest)
        else:
            speaker = dataclasses.replace(speaker, private=private or speaker.private)
            reply = await run_command(self.orch, speaker, name, rest)
        await self._followup(interaction, speaker, reply, private)

    async def on_pair_slash(self, interaction: discord.Interaction[Any], code: str) -> None:
        reply = await self._pair_reply(interaction.user, code)
        await interaction.response.send_message(reply.text, ephemeral=True)

    async def _followup(self, interaction: discord.Interaction[Any], speaker: Speaker,
                        reply: Reply, ephemeral: bool = False) -> None:
        last = await follow_up(interaction, reply, ephemeral)
        for run_id in reply.runs:
            if last is not None:
                await self.remember(int(speaker.chat_id), last, run_id)

    # -- run reports (see ChatSurface) -----------------------------------------------------

    def _channel(self, f: Followed) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(f.thread_id or f.chat_id)

    async def send_status(self, f: Followed, run: Run) -> int:
        sent = await self._channel(f).send(embed=run_card(run, f))
        return sent.id

    async def edit_status(self, f: Followed, run: Run) -> None:
        assert f.status_message is not None
        await self._channel(f).get_partial_message(f.status_message).edit(
            embed=run_card(run, f))

    async def send_question(self, f: Followed, interaction: Interaction, run: Run,
                            reminder: bool) -> int | None:
        who = self.mention(run.created_by)
        text = question_text(interaction, run, reminder)
        sent = await self._channel(f).send(f"{who} {text}" if who else text,
                                           view=question_view(interaction))
        return sent.id

    async def close_question(self, f: Followed, message_id: int, note: str) -> None:
        message = await self._channel(f).fetch_message(message_id)
        await message.edit(content=clip(message.content, 1500) + f"\n\n**{note}**",
                           view=None, allowed_mentions=discord.AllowedMentions.none())

    async def send_reply(self, f: Followed, reply: Reply, reply_to: int | None) -> int | None:
        channel = f.thread_id or f.chat_id
        reference = self._channel(f).get_partial_message(reply_to) if reply_to else None
        return await self.send(channel, reply, reference=reference)

    def mention(self, actor: str) -> str:
        platform, _, user_id = actor.partition(":")
        return f"<@{user_id}>" if platform == PLATFORM and user_id.isdigit() else ""

    def display(self, actor: str) -> str:
        return self.mention(actor) or actor

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, speaker: Speaker, reply: Reply, channel_id: int,
                       message: discord.Message) -> None:
        sent = await self.send(channel_id, reply, reference=message)
        for run_id in reply.runs:
            if sent is not None:
                await self.remember(int(speaker.chat_id), sent, run_id)

    async def send(self, channel_id: int, reply: Reply,
                   reference: discord.Message | discord.PartialMessage | None = None
                   ) -> int | None:
        return await send_to(self.client.get_partial_messageable(channel_id), reply,
                             reference, self.upload_limit)

    async def send_voice(self, f: Followed, data: bytes, reply_to: int | None) -> int | None:
        clip = OutFile("gluon-ping.ogg", "", len(data), data)  # an attachment Discord plays
        return await self.send_reply(f, Reply("", files=[clip]), reply_to)
