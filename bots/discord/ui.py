"""What the Discord bot puts on screen: run cards (embeds), and the buttons and menus that
answer an agent or confirm a destructive call.

The buttons and menus are one ``DynamicItem``: their custom ids carry what they do (written and
read by ``bots.chat.buttons``), and the client registers its template at start, so a press is
understood on any message, also one sent before a restart. Every press is acknowledged at
once (deferred) and answered after.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bots.chat.buttons import PREFIX, UnknownButton, encode, parse
from bots.chat.files import too_big
from bots.chat.followed import Followed, icon
from bots.chat.render import discord_markdown_chunks, needs_file, truncate_line
from bots.chat.types import (
    PERMISSION_LABELS,
    Act,
    Answer,
    Button,
    ButtonAction,
    Choose,
    Confirm,
    Reply,
    Retranscribe,
    Verb,
)
from bots.discord.voice import on_retry
from core.errors import UserError
from core.models import Interaction, Run
from core.types import InteractionKind, RunState

if TYPE_CHECKING:
    from bots.discord.bot import DiscordBot

log = logging.getLogger(__name__)

LIMIT = 2000  # characters of a message's content
UPLOAD_BYTES = 10 * 1024 * 1024  # what a bot may attach in a server without boosts
MAX_BUTTON_OPTIONS = 10  # more options, or a multi-select question: a select menu
MAX_SELECT_OPTIONS = 25  # Discord's limit
COLOURS = {RunState.REVIEW: discord.Colour.green(), RunState.FAILED: discord.Colour.red(),
           RunState.CANCELLED: discord.Colour.dark_grey(),
           RunState.INTERRUPTED: discord.Colour.orange(), RunState.MERGED: discord.Colour.purple(),
           RunState.CLOSED: discord.Colour.dark_grey(), RunState.WAITING: discord.Colour.gold()}
PERMISSION_STYLES = {"allow": discord.ButtonStyle.success,
                     "allow_run": discord.ButtonStyle.primary,
                     "allow_project": discord.ButtonStyle.secondary,
                     "deny": discord.ButtonStyle.danger}
ACT_STYLES = {Verb.MERGE: discord.ButtonStyle.success,
              Verb.RETRY_MERGE: discord.ButtonStyle.primary,
              Verb.CANCEL_MERGE: discord.ButtonStyle.secondary}


def run_card(run: Run, f: Followed) -> discord.Embed:
    """The run's status message: state, project, branch, cost, turns and health, and what the
    agent is doing (or why the run ended) in the footer."""
    embed = discord.Embed(title=f"{icon(run.state)} Run {run.short} · {run.state}",
                          description=truncate_line(run.prompt, 300),
                          colour=COLOURS.get(run.state, discord.Colour.blurple()))
    embed.add_field(name="Project", value=run.project)
    embed.add_field(name="Branch", value=f"`{run.branch}`" if run.branch else "—")
    embed.add_field(name="Model", value=run.model)
    embed.add_field(name="Cost", value=f"${run.cost_usd:.2f}")
    embed.add_field(name="Turns", value=f"{run.turns} ({run.tool_calls} tool calls)")
    embed.add_field(name="Health", value=f.health(run))
    if subagents := run.subagents_line():
        embed.add_field(name="Subagents", value=subagents)
    if f.estimate and run.state.is_live:
        embed.add_field(name="Likely cost", value=f.estimate)
    if f.loop:
        embed.add_field(name="Loop", value=f.loop)
    if f.formula:
        embed.add_field(name="Formula", value=f.formula)
    if activity := f.activity(run):
        embed.set_footer(text=truncate_line(activity, 200))
    elif run.state_reason and not run.state.is_live:
        embed.set_footer(text=truncate_line(run.state_reason, 200))
    return embed


def question_text(interaction: Interaction, run: Run, reminder: bool) -> str:
    again = "Still waiting: " if reminder else ""
    if interaction.kind is InteractionKind.PERMISSION:
        return (f"🔐 {again}Run `{run.short}` on {run.project} asks to use "
                f"{truncate_line(interaction.title, 1500)}")
    return (f"❓ {again}Run `{run.short}` on {run.project} asks: "
            f"{truncate_line(interaction.title, 1500)}\n"
            "Choose below, or reply to this message with your answer.")


def question_view(interaction: Interaction) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if interaction.kind is InteractionKind.PERMISSION:
        for n, option in enumerate(interaction.options):
            view.add_item(button(PERMISSION_LABELS[option], Answer(interaction.id, n),
                                 PERMISSION_STYLES[option]))
        return view
    options = interaction.options
    multi = any(q.get("multiSelect") for q in interaction.tool_input.get("questions", []))
    if multi or len(options) > MAX_BUTTON_OPTIONS:
        options = options[:MAX_SELECT_OPTIONS]
        view.add_item(Press(discord.ui.Select(
            custom_id=encode(Choose(interaction.id)),
            placeholder="Choose several" if multi else "Choose one",
            min_values=1, max_values=len(options) if multi else 1,
            options=[discord.SelectOption(label=truncate_line(o, 100), value=str(n))
                     for n, o in enumerate(options)])))
    else:
        for n, option in enumerate(options):
            view.add_item(button(option, Answer(interaction.id, n)))
    return view


def reply_view(buttons: list[list[Button]]) -> discord.ui.View | None:
    """The orchestrator's buttons (confirmations) as a view."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for row in buttons:
        for b in row:
            view.add_item(button(b.label, b.action, _style(b.action)))
    return view


def _style(action: ButtonAction) -> discord.ButtonStyle:
    if isinstance(action, Confirm) and action.yes:
        return discord.ButtonStyle.danger
    if isinstance(action, Act):
        return ACT_STYLES[action.verb]
    return discord.ButtonStyle.secondary


def button(label: str, action: ButtonAction,
           style: discord.ButtonStyle = discord.ButtonStyle.secondary) -> Press:
    return Press(discord.ui.Button(label=truncate_line(label, 80), style=style,
                                   custom_id=encode(action)))


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (lines kept), marked when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _bot(interaction: discord.Interaction[Any]) -> DiscordBot:
    bot: DiscordBot = interaction.client.gluon
    return bot


class Press(discord.ui.DynamicItem[discord.ui.Item[Any]], template=rf"{PREFIX}.+"):
    """Any of this bot's buttons and menus: what it does is in its custom id (see
    ``bots.chat.buttons``), so a press is understood on any message, also one sent before a
    restart."""

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any],
                             item: discord.ui.Item[Any], match: re.Match[str]) -> Press:
        return cls(item)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            action = parse(self.custom_id)
        except UnknownButton as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        match action:
            case Answer(question, option):
                await on_answer(interaction, question, [option])
            case Choose(question):
                data: dict[str, Any] = dict(interaction.data or {})
                picked = [int(v) for v in data.get("values", []) if str(v).isdigit()]
                await on_answer(interaction, question, picked)
            case Confirm(confirmation, yes):
                await on_confirm(interaction, confirmation, yes)
            case Act():
                await on_act(interaction, action)
            case Retranscribe(note):
                await on_retry(interaction, note)


# -- presses ---------------------------------------------------------------------------------

async def on_answer(interaction: discord.Interaction[Any], question: str,
                    picked: list[int]) -> None:
    """A button or menu answered an agent's question or permission request."""
    bot = _bot(interaction)
    await interaction.response.defer()  # within Discord's 3 s; the work may take longer
    speaker = await bot.speaker_for(interaction.user, interaction.channel)
    if speaker is None:
        text = await bot.refuse(interaction.user, f"button on {question}")
        await interaction.followup.send(text, ephemeral=True)
        return
    try:
        options = (await bot.runtime.runs.interactions.get(question)).options
        choice = ", ".join(options[n] for n in picked)
    except (UserError, IndexError):
        choice = ""
    if not choice:
        await interaction.followup.send("This request no longer exists; nothing was changed.",
                                        ephemeral=True)
        return
    outcome = await bot.answer_choice(speaker, question, choice)
    if not outcome.settled:  # when settled, the question's message says who answered
        await interaction.followup.send(outcome.text, ephemeral=True)


async def on_confirm(interaction: discord.Interaction[Any], confirmation: str,
                     yes: bool) -> None:
    """A confirmation button: run the held call, or drop it."""
    bot = _bot(interaction)
    await interaction.response.defer()
    speaker = await bot.speaker_for(interaction.user, interaction.channel)
    if speaker is None:
        text = await bot.refuse(interaction.user, f"confirmation {confirmation}")
        await interaction.followup.send(text, ephemeral=True)
        return
    outcome = await bot.orch.confirm(confirmation, speaker, yes)
    if not outcome.settled:
        await interaction.followup.send(outcome.text, ephemeral=True)
        return
    original = interaction.message.content if interaction.message else ""
    await interaction.edit_original_response(
        content=clip(original, 1000) + f"\n\n*{truncate_line(outcome.text, 900)}*",
        view=None, allowed_mentions=discord.AllowedMentions.none())


async def on_act(interaction: discord.Interaction[Any], action: Act) -> None:
    """A merge-queue button (merge a finished run, retry or cancel its entry)."""
    bot = _bot(interaction)
    await interaction.response.defer()
    speaker = await bot.speaker_for(interaction.user, interaction.channel)
    if speaker is None:
        text = await bot.refuse(interaction.user, f"button {action.verb.name.lower()}")
        await interaction.followup.send(text, ephemeral=True)
        return
    outcome = await bot.act(speaker, action)
    if outcome.follow_up is not None:  # the confirmation of a merge, in the channel
        await follow_up(interaction, outcome.follow_up)
    if not outcome.settled:
        if outcome.follow_up is None:
            await interaction.followup.send(outcome.text, ephemeral=True)
    else:
        original = interaction.message.content if interaction.message else ""
        await interaction.edit_original_response(
            content=clip(original, 1000) + f"\n\n*{truncate_line(outcome.text, 900)}*",
            view=None, allowed_mentions=discord.AllowedMentions.none())


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (Press,)


# -- sending replies ---------------------------------------------------------------------------

def _parts(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """A reply as messages: split under 2000 characters at line or code fence boundaries, or,
    when very long, its first line with the whole text attached; the buttons go last."""
    if needs_file(reply.text, limit=LIMIT):
        first = reply.text.strip().splitlines()[0] if reply.text.strip() else "output"
        chunks = [truncate_line(first, 300) + "\n(the whole text is attached)"]
    else:
        chunks = discord_markdown_chunks(reply.text, LIMIT) or ["(empty)"]
    parts: list[tuple[str, dict[str, Any]]] = []
    for n, chunk in enumerate(chunks):
        extra: dict[str, Any] = {}
        if n == 0 and len(chunks) == 1 and needs_file(reply.text, limit=LIMIT):
            extra["file"] = discord.File(io.BytesIO(reply.text.encode()), filename="gluon.txt")
        view = reply_view(reply.buttons) if n == len(chunks) - 1 else None
        if view is not None:
            extra["view"] = view
        parts.append((chunk, extra))
    return parts


async def send_to(channel: discord.abc.Messageable, reply: Reply,
                  reference: discord.Message | discord.PartialMessage | None = None,
                  limit: int = UPLOAD_BYTES) -> int | None:
    """Send a reply (the first part answering `reference`), then its files, each with its
    caption (a link instead when bigger than `limit`); returns the last message's id."""
    last: int | None = None
    parts = _parts(reply) if reply.text.strip() or reply.buttons or not reply.files else []
    for n, (chunk, extra) in enumerate(parts + _file_parts(reply, limit)):
        if n == 0 and reference is not None:
            extra["reference"] = reference.to_reference(fail_if_not_exists=False)
        last = (await channel.send(chunk, **extra)).id
    return last


def _file_parts(reply: Reply, limit: int) -> list[tuple[str, dict[str, Any]]]:
    """A reply's files as messages: an attachment with its caption (Discord shows a picture
    inline), or what is said instead when it is bigger than the bot may send."""
    parts: list[tuple[str, dict[str, Any]]] = []
    for out in reply.files:
        if out.data is None or out.size > limit:
            parts.append((clip(too_big(out, "Discord", limit), LIMIT), {}))
        else:
            parts.append((clip(out.caption, LIMIT), {
                "file": discord.File(io.BytesIO(out.data), filename=out.name)}))
    return parts


async def follow_up(interaction: discord.Interaction[Any], reply: Reply,
                    ephemeral: bool = False) -> int | None:
    """Answer a deferred slash command with a reply (``ephemeral``: only the person who used
    the command sees it); returns the last message's id."""
    last: int | None = None
    for chunk, extra in _parts(reply):
        last = (await interaction.followup.send(chunk, wait=True, ephemeral=ephemeral,
                                                **extra)).id
    return last


async def send_privately(client: discord.Client, user_id: int, reply: Reply) -> bool:
    """Send a reply to the user's DM channel with the bot; False when Discord refuses (they
    take no DMs from this server's members, or blocked the bot)."""
    try:
        channel = await client.create_dm(discord.Object(user_id))
        return await send_to(channel, reply) is not None
    except discord.HTTPException as exc:
        log.info("could not message discord user %s privately: %s", user_id,
                 exc.text or exc.status)
        return False
