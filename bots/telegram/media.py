"""Files and voice notes to Telegram: a picture as a photo (sendPhoto), any other file as a
document (sendDocument), a spoken ping as a voice note (sendVoice), through the chat's outbox.

Telegram takes photos up to 10 MB, and refuses some (too long or too wide for a photo): those
go as documents, which a bot may send up to 50 MB. Bigger files are the caller's to link to.
"""

from __future__ import annotations

import logging

from telegram import Bot, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bots.chat.render import telegram_html, truncate_line
from bots.chat.types import OutFile
from bots.telegram.outbox import Outbox

log = logging.getLogger(__name__)

UPLOAD_BYTES = 50_000_000  # what the Bot API lets a bot send
PHOTO_BYTES = 10_000_000  # a photo; bigger pictures go as documents
CAPTION = 1024


def caption_html(text: str) -> str:
    return telegram_html(truncate_line(text, CAPTION - 100))


async def upload(bot: Bot, outbox: Outbox, chat_id: int, thread_id: int | None,
                 out: OutFile, caption: str, reply_to: int | None) -> Message:
    """Send a file that fits (``out.data`` set, at most UPLOAD_BYTES) with ``caption``."""
    assert out.data is not None
    data, html = out.data, caption_html(caption)
    if out.image and out.size <= PHOTO_BYTES:
        try:
            sent: Message = await outbox.do(chat_id, lambda: bot.send_photo(
                chat_id, InputFile(data, filename=out.name), caption=html,
                parse_mode=ParseMode.HTML, message_thread_id=thread_id,
                reply_to_message_id=reply_to, allow_sending_without_reply=True))
            return sent
        except BadRequest as exc:  # not a picture Telegram shows as a photo: a document
            log.info("Telegram refused %s as a photo (%s); sending it as a document",
                     out.name, exc.message)
    sent = await outbox.do(chat_id, lambda: bot.send_document(
        chat_id, InputFile(data, filename=out.name), caption=html, parse_mode=ParseMode.HTML,
        message_thread_id=thread_id, reply_to_message_id=reply_to,
        allow_sending_without_reply=True))
    return sent


async def voice(bot: Bot, outbox: Outbox, chat_id: int, thread_id: int | None, data: bytes,
                reply_to: int | None) -> Message:
    """A voice note (OGG/Opus)."""
    sent: Message = await outbox.do(chat_id, lambda: bot.send_voice(
        chat_id, InputFile(data, filename="gluon.ogg"), message_thread_id=thread_id,
        reply_to_message_id=reply_to, allow_sending_without_reply=True))
    return sent
