"""Voice messages and audio attachments in Discord (see ``bots.chat.voice``).

A voice message (or an audio file sent without words) from someone the access check lets in
is transcribed; the transcript is shown as a reply to it, then routed as a typed message in
the same place would be: in a run's thread it steers the run, as a reply to a run's message
it steers or resumes it. A stranger's is refused before it is downloaded. Audio sent with
words is a file for the request, as any other attachment. A Retry press transcribes the kept
note again, fetches its message and routes it the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bots.chat.render import truncate_line
from bots.chat.types import Outcome, Reply, Speaker
from bots.chat.voice import again, heard, transcript
from core.errors import UserError

if TYPE_CHECKING:
    from bots.discord.bot import DiscordBot


def audio_of(message: discord.Message) -> discord.Attachment | None:
    """The message's voice message or first audio attachment, if any."""
    for attachment in message.attachments:
        if attachment.is_voice_message() or \
                (attachment.content_type or "").startswith("audio/"):
            return attachment
    return None


async def transcribe(bot: DiscordBot, speaker: Speaker, message: discord.Message,
                     audio: discord.Attachment) -> str | None:
    """The transcript, shown under the message; None when there is none (why is said)."""
    async def download() -> bytes:
        try:
            return await audio.read()
        except discord.HTTPException as exc:
            raise UserError(f"Discord did not hand over the voice message ({exc.status}); "
                            "send it again.") from None

    where = {"channel": str(message.channel.id), "message": str(message.id)}
    async with message.channel.typing():
        said = await transcript(bot.runtime, speaker, download, size=audio.size,
                                seconds=audio.duration, context=where)
    await bot.send(message.channel.id, said if isinstance(said, Reply) else heard(said),
                   reference=message)
    return None if isinstance(said, Reply) else said


async def on_retry(interaction: discord.Interaction[Any], note_id: str) -> None:
    """The Retry button under a voice message that could not be transcribed."""
    bot: DiscordBot = interaction.client.gluon
    await interaction.response.defer()
    speaker = await bot.speaker_for(interaction.user, interaction.channel)
    if speaker is None:
        text = await bot.refuse(interaction.user, f"retry of voice note {note_id}")
        await interaction.followup.send(text, ephemeral=True)
        return
    result = await again(bot.runtime, speaker, note_id)
    if isinstance(result, Outcome) and not result.settled:
        await interaction.followup.send(truncate_line(result.text, 1900), ephemeral=True)
        return
    note = result.text if isinstance(result, Outcome) else \
        f"Transcribed on retry for {speaker.name}."
    original = interaction.message.content if interaction.message else ""
    await interaction.edit_original_response(
        content=f"{original[:1000]}\n\n*{truncate_line(note, 900)}*", view=None,
        allowed_mentions=discord.AllowedMentions.none())
    if isinstance(result, Outcome):
        return
    said, where = result
    try:
        message = await bot.client.get_partial_messageable(int(where["channel"])).fetch_message(
            int(where["message"]))
    except (discord.HTTPException, KeyError, ValueError):
        await interaction.followup.send("That voice message is gone; nothing was done. Send "
                                        "it again.", ephemeral=True)
        return
    await bot.send(message.channel.id, heard(said), reference=message)
    audio = audio_of(message)
    await bot.route(speaker, message, said, False,
                    [a for a in message.attachments if a is not audio])
