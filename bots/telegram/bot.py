"""The Telegram bot: python-telegram-bot (long polling) in front of the orchestrator.

- Access is denied by default: only ``/start`` (your id, how to get in) and ``/pair CODE``
  answer strangers; everything else they send is refused and logged.
- Updates are handled concurrently, so one slow conversation never blocks another.
- Every chat has an ordered outbox: messages go out in order, a 429 is waited out and retried,
  network errors are retried with backoff; nothing is dropped.
- Each run started from a chat gets one status message there, edited in place (at most about
  once a second), and a ping when it finishes, fails or needs a person. The agent's questions
  and permission requests come as buttons; replying to a run's message steers it (or resumes it
  once it has ended); replying to a question answers it in free text.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import re

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bots.chat.buttons import UnknownButton, encode, parse
from bots.chat.commands import DESCRIPTIONS, run_command
from bots.chat.files import too_big
from bots.chat.followed import Followed, as_int, icon
from bots.chat.orchestrator import Orchestrator
from bots.chat.render import needs_file, split_telegram_html, truncate_line
from bots.chat.surface import ChatSurface
from bots.chat.types import (
    PERMISSION_LABELS,
    Act,
    Answer,
    Button,
    Choose,
    Confirm,
    Outcome,
    Reply,
    Retranscribe,
    Speaker,
)
from bots.telegram import media, voice
from bots.telegram.outbox import Outbox
from core.errors import UserError
from core.models import Interaction, Run
from core.runs.uploads import MAX_UPLOAD_BYTES, check_size, save_upload
from core.runtime import Runtime
from core.types import InteractionKind

log = logging.getLogger(__name__)

PLATFORM = "telegram"
LIMIT = 4096
BOT_API_DOWNLOAD_BYTES = 20_000_000  # what the Bot API lets a bot download


def keyboard(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=encode(b.action))
                                  for b in row] for row in buttons])


class TelegramBot(ChatSurface):
    platform = PLATFORM
    upload_limit = media.UPLOAD_BYTES

    def __init__(self, runtime: Runtime, orchestrator: Orchestrator, token: str,
                 base_url: str | None = None) -> None:
        super().__init__(runtime, orchestrator)
        builder = Application.builder().token(token).concurrent_updates(True)
        if base_url:
            builder = builder.base_url(base_url).base_file_url(
                base_url.removesuffix("/bot") + "/file/bot")
        self.app = builder.build()
        self.outbox = Outbox()
        self.app.add_handler(CommandHandler("start", self.on_start))
        self.app.add_handler(CommandHandler("pair", self.on_pair))
        self.app.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        self.app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        # A voice note, or an audio file without words: transcribed (with words: a file).
        self.app.add_handler(MessageHandler(filters.VOICE | (filters.AUDIO & ~filters.CAPTION),
                                            self.on_voice))
        self.app.add_handler(MessageHandler(filters.ATTACHMENT, self.on_attachment))
        self.app.add_handler(CallbackQueryHandler(self.on_button))
        self.app.add_error_handler(self.on_error)
        orchestrator.link_hooks[PLATFORM] = self._on_linked
        orchestrator.private_hooks[PLATFORM] = self._send_private

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.app.running

    async def reset(self) -> None:
        """Undo a start that failed half-way, so it can be tried again."""
        with contextlib.suppress(Exception):
            await self.app.shutdown()

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.bot.set_my_commands(
            [BotCommand(name, text) for name, text in DESCRIPTIONS.items()])
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0, timeout=10,
                                             allowed_updates=Update.ALL_TYPES)
        await self.app.start()
        await self.start_reports()

    async def stop(self) -> None:
        await self.stop_reports()
        assert self.app.updater is not None
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.outbox.close()
        await self.orch.close()
        await self.app.shutdown()

    # -- who is speaking -------------------------------------------------------------------

    async def speaker(self, update: Update) -> Speaker | None:
        """The speaker, or None (after telling them and logging it) when not allowed."""
        user, chat, message = update.effective_user, update.effective_chat, \
            update.effective_message
        if user is None or chat is None:
            return None
        role = await self.runtime.access.role_of(PLATFORM, str(user.id))
        if role is None:
            await self.runtime.activity.record(f"{PLATFORM}:{user.id}", "access.denied",
                                               f"chat {chat.id}", "refused")
            if update.callback_query is not None:
                await update.callback_query.answer("You are not allowed to use this bot.")
            elif message is not None:
                await self.send(chat.id, None, Reply(
                    "You are not allowed to use this bot. Send /start to see your id and how "
                    "to get access.", error=True))
            return None
        thread = message.message_thread_id if (message is not None and chat.is_forum) \
            else None
        return Speaker(PLATFORM, str(user.id), user.first_name or str(user.id), role,
                       chat_id=str(chat.id), thread_id=str(thread) if thread else None,
                       forum=bool(chat.is_forum), private=chat.type == ChatType.PRIVATE)

    # -- handlers --------------------------------------------------------------------------

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        role = await self.runtime.access.role_of(PLATFORM, str(user.id))
        if role is not None:
            text = (f"Hello {user.first_name}, you are in as {role}. Tell me what you want "
                    "done; /help lists the commands.")
        else:
            text = (f"Your Telegram user id is {user.id}. To use this bot, ask its admin to "
                    f"add {user.id} to telegram.users in Gluon's config, or to run "
                    "`gluon pair` and send me /pair CODE with the code it prints.")
        await self.send(chat.id, None, Reply(text))

    async def on_pair(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        code = " ".join(context.args or [])
        if not code:
            await self.send(chat.id, None, Reply("usage: /pair CODE (from `gluon pair`)"))
            return
        try:
            role = await self.runtime.access.pair(PLATFORM, str(user.id),
                                                  user.first_name or "", code)
        except Exception as exc:
            await self.send(chat.id, None, Reply(str(exc), error=True))
            return
        await self.send(chat.id, None, Reply(f"Paired: you are in as {role}. /help shows "
                                             "what I can do."))

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        speaker = await self.speaker(update)
        if speaker is None or message is None or not message.text:
            return
        head, _, rest = message.text.partition(" ")
        name = head[1:].split("@")[0].lower()
        reply = await run_command(self.orch, speaker, name, rest)
        await self._deliver(speaker, reply, message)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        speaker = await self.speaker(update)
        if speaker is None or message is None or not message.text:
            return
        replied = message.reply_to_message
        await self.handle_text(
            speaker, message.text, message_id=message.message_id,
            thread_id=message.message_thread_id,
            topic=message.message_thread_id if message.is_topic_message else None,
            replied=replied.message_id if replied else None)

    async def handle_text(self, speaker: Speaker, text: str, *, message_id: int | None,
                          thread_id: int | None, topic: int | None,
                          replied: int | None) -> None:
        """What someone said (typed, or a voice note's transcript): in a run's topic it
        steers the run; replying to a run's message it steers (or resumes) the run, to a
        question it answers it; anything else goes to the orchestrator."""
        chat_id = int(speaker.chat_id)
        mentioned = f"@{self.app.bot.username}".lower() in text.lower()
        if topic is not None and (chat_id, topic) in self.thread_runs and not mentioned:
            reply = await self.steer(speaker, self.thread_runs[(chat_id, topic)], text)
        elif replied is not None and (about := await self.about(chat_id, replied)) is not None:
            run_id, question = about
            reply = (await self.answer_text(speaker, question, text) if question
                     else await self.steer(speaker, run_id, text))
        else:
            await self.outbox.do(chat_id, lambda: self.app.bot.send_chat_action(
                chat_id, ChatAction.TYPING, message_thread_id=thread_id))
            reply = await self.orch.handle(speaker, text)
        await self.deliver(speaker, reply, thread_id, message_id)

    async def on_voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await voice.on_voice(self, update, context)

    async def on_attachment(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A document or photo with a request: saved under uploads/ and given to the runs
        the request starts (copied into their worktrees)."""
        message = update.effective_message
        speaker = await self.speaker(update)
        if speaker is None or message is None:
            return
        if message.document is not None:
            file_id, size = message.document.file_id, message.document.file_size
            name = message.document.file_name or "file"
        elif message.photo:
            largest = message.photo[-1]
            file_id, size, name = largest.file_id, largest.file_size, "photo.jpg"
        elif message.audio is not None:  # with a caption (see on_voice)
            file_id, size = message.audio.file_id, message.audio.file_size
            name = message.audio.file_name or "audio"
        else:
            await self._deliver(speaker, Reply(
                "I can take documents and photos with a request, not this kind of file.",
                error=True), message)
            return
        limit = min(MAX_UPLOAD_BYTES, BOT_API_DOWNLOAD_BYTES)
        try:
            check_size(name, size, limit)
            data = await (await context.bot.get_file(file_id)).download_as_bytearray()
            path = await save_upload(self.runtime.config.home, name, bytes(data), limit)
        except UserError as exc:
            await self._deliver(speaker, Reply(str(exc), error=True), message)
            return
        text = message.caption or "I sent you a file."
        reply = await self.orch.handle(speaker, text, attachments=[str(path)])
        await self._deliver(speaker, reply, message)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not query.data:
            return
        speaker = await self.speaker(update)
        if speaker is None:
            return
        try:
            action = parse(query.data)
        except UnknownButton as exc:
            outcome = Outcome(str(exc), False)
        else:
            match action:
                case Confirm(confirmation, yes):
                    outcome = await self.orch.confirm(confirmation, speaker, yes=yes)
                case Answer(question, option):
                    outcome = await self._answer_button(speaker, question, option)
                case Act():
                    outcome = await self.act(speaker, action)
                case Retranscribe(note):  # answers the press itself
                    await voice.on_retry(self, speaker, query, note)
                    return
                case Choose():  # a menu: Telegram has none, so not one of this bot's
                    outcome = Outcome("This button is not one of mine; nothing was changed.",
                                      False)
        await query.answer(truncate_line(outcome.text, 190))
        message = query.message
        if outcome.settled and isinstance(message, Message):
            await self.settle(message, outcome.text)
        if outcome.follow_up is not None and isinstance(message, Message):
            await self.send(message.chat.id, message.message_thread_id, outcome.follow_up,
                            reply_to=message.message_id)

    async def settle(self, message: Message, note: str) -> None:
        """A pressed message has done its job: its buttons go, a note in italics says how."""
        text = f"{html.escape(message.text or '')}\n\n<i>{html.escape(note)}</i>"
        await self.outbox.do(message.chat.id, lambda: message.edit_text(
            text[-LIMIT:], parse_mode=ParseMode.HTML, reply_markup=None))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed: %s", context.error, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            with contextlib.suppress(TelegramError):
                await self.send(update.effective_chat.id, None, Reply(
                    "Something went wrong on my side; nothing more was done. Try again, or "
                    "check `gluon serve`'s log.", error=True))

    # -- people in the loop ----------------------------------------------------------------

    async def _answer_button(self, speaker: Speaker, interaction_id: str,
                             index: int) -> Outcome:
        try:
            interaction = await self.runtime.runs.interactions.get(interaction_id)
            choice = interaction.options[index]
        except (UserError, IndexError):
            return Outcome("This request no longer exists; nothing was changed.", False)
        return await self.answer_choice(speaker, interaction.id, choice)

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, speaker: Speaker, reply: Reply, message: Message) -> None:
        await self.deliver(speaker, reply, message.message_thread_id, message.message_id)

    async def deliver(self, speaker: Speaker, reply: Reply, thread_id: int | None,
                      reply_to: int | None) -> None:
        """Answer someone (remembering the runs the answer is about)."""
        chat_id = int(speaker.chat_id)
        sent = await self.send(chat_id, thread_id, reply, reply_to=reply_to)
        for run_id in reply.runs:
            if sent is not None:
                await self.remember(chat_id, sent, run_id)

    async def _send_private(self, speaker: Speaker, reply: Reply) -> bool:
        """Send to the speaker's private chat with the bot (its id is their user id); False
        when Telegram refuses, as it does until they have started a chat with the bot."""
        try:
            return await self.send(int(speaker.user_id), None, reply) is not None
        except TelegramError as exc:
            log.info("could not message telegram user %s privately: %s", speaker.user_id, exc)
            return False

    async def _on_linked(self, run_id: str, speaker: Speaker) -> str | None:
        """A chat starts following a run: in a forum (outside a topic) the run gets a topic
        of its own, where its reports go and what people say steers it."""
        chat_id = int(speaker.chat_id)
        thread = as_int(speaker.thread_id)
        topic = await self._topic_for(run_id, chat_id) if (
            speaker.forum and thread is None) else None
        self.follow(run_id, chat_id, topic or thread)
        return str(topic) if topic is not None else None

    async def _topic_for(self, run_id: str, chat_id: int) -> int | None:
        run = await self.runtime.runs.get(run_id)
        name = truncate_line(f"{run.short} · {run.project} · {run.prompt}", 120)
        try:
            topic = await self.outbox.do(chat_id, lambda: self.app.bot.create_forum_topic(
                chat_id, name))
        except TelegramError as exc:  # e.g. the bot may not manage topics: stay in General
            log.warning("could not make a topic for run %s: %s", run_id, exc)
            return None
        thread = int(topic.message_thread_id)
        self.thread_runs[(chat_id, thread)] = run_id
        return thread

    # -- run reports (see ChatSurface) -------------------------------------------------------

    async def send_status(self, f: Followed, run: Run) -> int:
        text = status_text(run, f)
        sent = await self.outbox.do(f.chat_id, lambda: self.app.bot.send_message(
            f.chat_id, text, parse_mode=ParseMode.HTML, message_thread_id=f.thread_id))
        return int(sent.message_id)

    async def edit_status(self, f: Followed, run: Run) -> None:
        text, message_id = status_text(run, f), f.status_message
        await self.outbox.do(f.chat_id, lambda: self.app.bot.edit_message_text(
            text, chat_id=f.chat_id, message_id=message_id, parse_mode=ParseMode.HTML))

    async def send_question(self, f: Followed, interaction: Interaction, run: Run,
                            reminder: bool) -> int | None:
        again = "Still waiting: " if reminder else ""
        if interaction.kind is InteractionKind.PERMISSION:
            text = (f"🔐 {again}Run `{run.short}` on {run.project} asks to use "
                    f"{interaction.title}")
            labels = [PERMISSION_LABELS[o] for o in interaction.options]
        else:
            text = (f"❓ {again}Run `{run.short}` on {run.project} asks: {interaction.title}\n"
                    "Press an option, or reply to this message with your answer.")
            labels = interaction.options
        buttons = [[Button(truncate_line(label, 60), Answer(interaction.id, n))]
                   for n, label in enumerate(labels)]
        return await self.send(f.chat_id, f.thread_id, Reply(text, buttons))

    async def close_question(self, f: Followed, message_id: int, note: str) -> None:
        with contextlib.suppress(BadRequest):  # a press took the buttons away already
            await self.outbox.do(f.chat_id, lambda: self.app.bot.edit_message_reply_markup(
                chat_id=f.chat_id, message_id=message_id, reply_markup=None))
        await self.send(f.chat_id, f.thread_id, Reply(truncate_line(note, 300)),
                        reply_to=message_id)

    async def send_reply(self, f: Followed, reply: Reply, reply_to: int | None) -> int | None:
        return await self.send(f.chat_id, f.thread_id, reply, reply_to=reply_to)

    async def send(self, chat_id: int, thread_id: int | None, reply: Reply,
                   reply_to: int | None = None) -> int | None:
        """Send a reply, then its files (see ``bots.telegram.media``); a file bigger than a
        bot may send is a link instead. Returns the last message's id."""
        last = None
        if reply.text.strip() or reply.buttons or not reply.files:
            last = await self._send_text(chat_id, thread_id, reply, reply_to)
        for out in reply.files:
            if out.data is None or out.size > self.upload_limit:
                text = too_big(out, "Telegram", self.upload_limit)
                last = await self._send_text(chat_id, thread_id, Reply(text), reply_to)
            else:
                last = int((await media.upload(self.app.bot, self.outbox, chat_id, thread_id,
                                               out, out.caption, reply_to)).message_id)
        return last

    async def send_voice(self, f: Followed, data: bytes, reply_to: int | None) -> int | None:
        sent = await media.voice(self.app.bot, self.outbox, f.chat_id, f.thread_id, data,
                                 reply_to)
        return int(sent.message_id)

    async def _send_text(self, chat_id: int, thread_id: int | None, reply: Reply,
                         reply_to: int | None = None) -> int | None:
        """Send a reply's text: split under Telegram's limit, as a file when very long; the
        buttons go with the last part. Returns the last message's id."""
        bot = self.app.bot
        if needs_file(reply.text, limit=LIMIT):
            data = reply.text.encode()
            first = reply.text.strip().splitlines()[0] if reply.text.strip() else "output"
            sent = await self.outbox.do(chat_id, lambda: bot.send_document(
                chat_id, io.BytesIO(data), filename="gluon.txt",
                caption=truncate_line(first, 900), message_thread_id=thread_id,
                reply_markup=keyboard(reply.buttons)))
            return int(sent.message_id)
        chunks = split_telegram_html(reply.text, LIMIT) or ["(empty)"]
        last: int | None = None
        for n, chunk in enumerate(chunks):
            markup = keyboard(reply.buttons) if n == len(chunks) - 1 else None
            to = reply_to if n == 0 else None

            async def part(chunk: str = chunk, markup: InlineKeyboardMarkup | None = markup,
                           to: int | None = to) -> Message:
                try:
                    return await bot.send_message(
                        chat_id, chunk, parse_mode=ParseMode.HTML, message_thread_id=thread_id,
                        reply_markup=markup, reply_to_message_id=to,
                        allow_sending_without_reply=True)
                except BadRequest as exc:
                    if "can't parse entities" not in exc.message.lower():
                        raise
                    # Telegram disagrees with the formatting: the words matter more.
                    log.warning("Telegram refused the HTML of a message (%s); sending it as "
                                "plain text", exc.message)
                    return await bot.send_message(
                        chat_id, _plain(chunk), message_thread_id=thread_id,
                        reply_markup=markup, reply_to_message_id=to,
                        allow_sending_without_reply=True)

            sent = await self.outbox.do(chat_id, part)
            last = int(sent.message_id)
        return last

def _plain(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def status_text(run: Run, f: Followed) -> str:
    """The run's status message: state, prompt, turns, cost and health, and what the agent is
    doing while it runs."""
    lines = [f"{icon(run.state)} <b>Run <code>{run.short}</code></b> on "
             f"{html.escape(run.project)} · {run.state} · {run.model}",
             html.escape(truncate_line(run.prompt, 200)),
             f"{run.turns} turns · {run.tool_calls} tool calls · ${run.cost_usd:.2f} · "
             f"{html.escape(f.health(run))}"]
    if subagents := run.subagents_line():
        lines.append(subagents)
    if f.estimate and run.state.is_live:
        lines.append(f"💵 {html.escape(f.estimate)}")
    if f.loop:
        lines.append(f"🔁 {html.escape(f.loop)}")
    if f.formula:
        lines.append(f"🧭 {html.escape(f.formula)}")
    if activity := f.activity(run):
        lines.append(html.escape(truncate_line(activity, 200)))
    return "\n".join(lines)
