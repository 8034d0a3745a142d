"""Voice notes and audio files in Telegram (see ``bots.chat.voice``).

A note from someone the access check refuses is never downloaded. Otherwise the transcript
is shown as a reply to the note, then handled as text sent in the same place: in a run's
topic it steers the run, as a reply to a run's message it steers or resumes it. A Retry
press transcribes the kept note again and routes it the same way (Telegram cannot fetch the
note's message later, so where it was said is kept with the note).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bots.chat.render import truncate_line
from bots.chat.types import Outcome, Reply, Speaker
from bots.chat.voice import again, heard, transcript
from core.errors import UserError

if TYPE_CHECKING:
    from bots.telegram.bot import TelegramBot


async def on_voice(bot: TelegramBot, update: Update,
                   context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    speaker = await bot.speaker(update)  # a stranger is refused here, before any download
    if speaker is None or message is None:
        return
    note = message.voice or message.audio
    if note is None:
        return
    replied = message.reply_to_message.message_id if message.reply_to_message else None
    topic = message.message_thread_id if message.is_topic_message else None
    where = {"thread": _text(message.message_thread_id), "topic": _text(topic),
             "message": str(message.message_id), "replied": _text(replied)}
    seconds = note.to_dict().get("duration")  # an int, without PTB's timedelta warning

    async def download() -> bytes:
        chat_id = int(speaker.chat_id)
        await bot.outbox.do(chat_id, lambda: bot.app.bot.send_chat_action(
            chat_id, ChatAction.TYPING, message_thread_id=message.message_thread_id))
        try:
            file = await context.bot.get_file(note.file_id)
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            raise UserError(f"Telegram did not hand over the voice note ({exc.message}); "
                            "send it again.") from None

    said = await transcript(bot.runtime, speaker, download, size=note.file_size,
                            seconds=float(seconds) if seconds else None, context=where)
    await _said(bot, speaker, said, where)


async def on_retry(bot: TelegramBot, speaker: Speaker, query: CallbackQuery,
                   note_id: str) -> None:
    """The Retry button under a note that could not be transcribed."""
    result = await again(bot.runtime, speaker, note_id)
    message = query.message
    if isinstance(result, Outcome):
        await query.answer(truncate_line(result.text, 190))
        if result.settled and isinstance(message, Message):
            await bot.settle(message, result.text)
        return
    said, where = result
    await query.answer("Transcribed.")
    if isinstance(message, Message):
        await bot.settle(message, f"Transcribed on retry for {speaker.name}.")
    await _said(bot, speaker, said, where)


async def _said(bot: TelegramBot, speaker: Speaker, said: str | Reply,
                where: dict[str, str]) -> None:
    """Show the transcript (or why there is none) under the note, then act on it."""
    thread, message_id = _number(where.get("thread")), _number(where.get("message"))
    if isinstance(said, Reply):
        await bot.deliver(speaker, said, thread, message_id)
        return
    await bot.deliver(speaker, heard(said), thread, message_id)
    await bot.handle_text(speaker, said, message_id=message_id, thread_id=thread,
                          topic=_number(where.get("topic")),
                          replied=_number(where.get("replied")))


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _number(value: str | None) -> int | None:
    return int(value) if value else None
