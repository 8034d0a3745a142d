"""The fake Telegram Bot API, driven by the real python-telegram-bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:TEST-TOKEN"
ALICE = 42  # a private chat's id is its user's id
FORUM = -1001234


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


App = Application[Any, Any, Any, Any, Any, Any]


@asynccontextmanager
async def polling(fake: FakeTelegram, *handlers: BaseHandler[Update, Any, Any]
                  ) -> AsyncIterator[App]:
    """A real PTB application polling the fake, its lifecycle driven by hand (no run_polling)."""
    app = (ApplicationBuilder().token(fake.token).base_url(fake.base_url)
           .base_file_url(fake.base_file_url).concurrent_updates(True).build())
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def test_start_command_reaches_the_command_handler_and_the_reply_is_recorded(
        fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None and update.message is not None
        await update.message.reply_text(f"Hello, {update.effective_user.first_name}")

    async with polling(fake, CommandHandler("start", start)):
        fake.user_message(ALICE, ALICE, "/start")
        await fake.wait_for(lambda f: bool(f.sent(ALICE)))

    [reply] = fake.sent(ALICE)
    assert (reply.kind, reply.text, reply.message_id) == ("message", "Hello, Ada", 2)
    assert [m for m, _ in fake.calls][:2] == ["getMe", "deleteWebhook"]


async def test_text_in_a_forum_topic_reaches_the_message_handler_and_the_reply_stays_in_it(
        fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text.upper(), do_quote=True)

    async with polling(fake, MessageHandler(filters.TEXT & ~filters.COMMAND, echo)):
        asked = fake.user_message(FORUM, ALICE, "run the tests", chat_type="supergroup",
                                  thread_id=7, is_topic_message=True)
        await fake.wait_for(lambda f: bool(f.sent(FORUM)))

    [reply] = fake.sent(FORUM)
    assert (reply.text, reply.thread_id, reply.reply_to) == ("RUN THE TESTS", 7, asked)


async def test_a_button_press_reaches_the_callback_handler_which_answers_and_edits(
        fake: FakeTelegram) -> None:
    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="ok:1"),
                                          InlineKeyboardButton("Deny", callback_data="no:1")]])
        await update.message.reply_text("Run `rm -rf build`?", reply_markup=keyboard)

    async def decide(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Noted")
        await query.edit_message_text(f"Decision: {query.data}")

    async with polling(fake, CommandHandler("ask", ask),
                       CallbackQueryHandler(decide, pattern=r"^(ok|no):")):
        fake.user_message(ALICE, ALICE, "/ask")
        await fake.wait_for(lambda f: bool(f.messages(ALICE)))
        [(message_id, question)] = fake.messages(ALICE).items()
        assert question.buttons == [("Approve", "ok:1"), ("Deny", "no:1")]
        with pytest.raises(AssertionError, match="never had a button 'maybe:1'"):
            fake.press_button(ALICE, ALICE, message_id, "maybe:1")
        query_id = fake.press_button(ALICE, ALICE, message_id, "ok:1")
        await fake.wait_for(lambda f: f.messages(ALICE)[message_id].edits == 1)

    assert fake.callback_answers == {query_id: ("Noted", False)}
    decided = fake.messages(ALICE)[message_id]
    assert decided.text == "Decision: ok:1"
    assert decided.reply_markup is None  # an edit without reply_markup drops the keyboard
    assert [r.kind for r in fake.sent(ALICE)] == ["message", "callback_answer", "edit"]


async def test_editing_updates_the_message_and_an_identical_edit_is_not_modified(
        fake: FakeTelegram, bot: Bot) -> None:
    status = await bot.send_message(ALICE, "<b>working</b>", parse_mode=ParseMode.HTML)
    edited = await bot.edit_message_text("<b>done</b>", ALICE, status.message_id,
                                         parse_mode=ParseMode.HTML)

    assert not isinstance(edited, bool)  # True only for inline messages
    assert edited.text == "<b>done</b>" and edited.edit_date is not None
    now = fake.messages(ALICE)[status.message_id]
    assert (now.text, now.parse_mode, now.edits) == ("<b>done</b>", "HTML", 1)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("<b>done</b>", ALICE, status.message_id,
                                    parse_mode=ParseMode.HTML)
    assert [r.kind for r in fake.sent(ALICE)] == ["message", "edit"]


async def test_a_rate_limit_raises_retry_after_and_sends_nothing(
        fake: FakeTelegram, bot: Bot) -> None:
    fake.rate_limit("sendMessage", times=1, retry_after=3)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(ALICE, "first")
    await bot.send_message(ALICE, "second")

    assert raised.value.retry_after == 3
    assert [r.text for r in fake.sent(ALICE)] == ["second"]


async def test_injected_failures_raise_the_matching_ptb_errors(
        fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=502)
    fake.fail_next("sendChatAction", status=400, description="Bad Request: chat not found")

    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(ALICE, "hi")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_chat_action(ALICE, "typing")
    await bot.send_chat_action(ALICE, "typing")

    assert [(r.kind, r.text) for r in fake.sent(ALICE)] == [("action", "typing")]


async def test_telegram_limits_are_enforced(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(ALICE, "x" * 4096)
    await bot.send_message(ALICE, "<i>" + "&lt;" * 4096 + "</i>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        too_long = InlineKeyboardButton("Approve", callback_data="ok:" + "a" * 62)
        await bot.send_message(ALICE, "Run it?", reply_markup=InlineKeyboardMarkup([[too_long]]))
    with pytest.raises(BadRequest, match="unsupported or unmatched tag .<br>."):
        await bot.send_message(ALICE, "line<br>line", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="unescaped"):
        await bot.send_message(ALICE, "if a < b", parse_mode=ParseMode.HTML)

    assert len(fake.sent(ALICE)) == 2


async def test_documents_go_both_ways_with_their_bytes(fake: FakeTelegram) -> None:
    async def review(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.document is not None
        upload = await (await update.message.document.get_file()).download_as_bytearray()
        await update.message.reply_document(bytes(upload).upper(), filename="reviewed.patch",
                                            caption=update.message.caption)

    async with polling(fake, MessageHandler(filters.Document.ALL, review)):
        fake.user_message(ALICE, ALICE, "please review", document=("fix.patch", b"+ fix\n"))
        await fake.wait_for(lambda f: bool(f.sent(ALICE, kind="document")))

    [sent] = fake.sent(ALICE)
    assert (sent.document_name, sent.document_bytes, sent.text) == (
        "reviewed.patch", b"+ FIX\n", "please review")


async def test_photos_and_voice_notes_arrive_with_their_bytes_and_size_limits(
        fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_photo(ALICE, b"\x89PNG picture", caption="the screenshot")
    await bot.send_voice(ALICE, b"OggS voice")
    with pytest.raises(BadRequest, match="(?i)photo_save_file_invalid"):
        await bot.send_photo(ALICE, b"x" * 10_000_001)

    photo, voice = fake.sent(ALICE)
    assert (photo.kind, photo.text, photo.document_bytes) == (
        "photo", "the screenshot", b"\x89PNG picture")
    assert (voice.kind, voice.document_bytes) == ("voice", b"OggS voice")


async def test_a_forum_topic_gets_a_thread_for_the_bots_messages(
        fake: FakeTelegram, bot: Bot) -> None:
    topic = await bot.create_forum_topic(FORUM, "agent fix-login")
    await bot.send_message(FORUM, "started", message_thread_id=topic.message_thread_id)

    assert topic.name == "agent fix-login"
    assert [(r.kind, r.thread_id) for r in fake.sent(FORUM)] == [
        ("topic", topic.message_thread_id), ("message", topic.message_thread_id)]


async def test_deleted_messages_disappear_and_cannot_be_edited(
        fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ALICE, "temporary")
    await bot.delete_message(ALICE, message.message_id)

    assert fake.messages(ALICE) == {}
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("again", ALICE, message.message_id)


async def test_a_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="rejected"):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass


async def test_wait_for_fails_with_what_the_bot_sent(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(ALICE, "only this")

    with pytest.raises(AssertionError, match="only this"):
        await fake.wait_for(lambda f: len(f.sent()) > 1, timeout=0.2)


async def test_the_wire_format_is_telegrams(fake: FakeTelegram) -> None:
    fake.user_message(ALICE, ALICE, "one")
    fake.user_message(ALICE, ALICE, "two")
    fake.rate_limit("sendMessage", retry_after=1)
    api = fake.base_url + TOKEN
    async with httpx.AsyncClient() as http:
        first = (await http.get(f"{api}/getUpdates", params={"limit": 1})).json()
        confirmed = (await http.post(f"{api}/getUpdates", data={"offset": 2})).json()
        limited = await http.post(f"{api}/sendMessage", data={"chat_id": ALICE, "text": "hi"})
        unknown = await http.post(f"{api}/sendPigeon")
        stranger = await http.post(f"{fake.base_url}999:WRONG/getMe")

    assert [u["message"]["text"] for u in first["result"]] == ["one"]
    assert [u["update_id"] for u in confirmed["result"]] == [2]
    assert (limited.status_code, limited.json()) == (429, {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1}})
    assert (unknown.status_code, unknown.json()["ok"]) == (404, False)
    assert (stranger.status_code, stranger.json()) == (401, {
        "ok": False, "error_code": 401, "description": "Unauthorized"})
