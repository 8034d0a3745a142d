"""A protocol-level fake of the Telegram Bot API, so the real python-telegram-bot runs offline.

`FakeTelegram` serves `/bot<token>/<method>` (POST form-urlencoded with JSON-encoded values,
multipart for uploads, or GET) and `/file/bot<token>/<file_path>` from uvicorn on 127.0.0.1 in a
background thread, answering `{"ok": true, "result": …}` or `{"ok": false, "error_code": N,
"description": …}` with HTTP status N. Point PTB at it with
`ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url)`.
Tests play the users (`user_message`, `press_button`), read what the bot did (`sent`, `messages`,
`callback_answers`) and `await wait_for(predicate)` instead of sleeping.

Methods: getMe, deleteWebhook, setMyCommands, getUpdates (long polling capped at 1 s),
sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage, answerCallbackQuery,
sendChatAction, sendDocument, sendPhoto, sendVoice, createForumTopic, getFile; anything else is a
404. Like Telegram it answers 400 to edits that change nothing, text over 4096 characters
(counted after HTML parsing, raw for other parse modes), callback data over 64 bytes, unsupported
or unbalanced HTML tags, unknown messages, twice-answered callback queries and photos over 10 MB,
413 to an upload over the 50 MB a bot may send, and an edit without reply_markup drops the
inline keyboard. `rate_limit()` and `fail_next()` inject 429s and other errors. Not emulated:
webhooks, inline mode, media other than documents, photos, voice notes (and users' voice notes:
`user_voice`), MarkdownV2 parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import PurePath
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer, wait_until

__all__ = ["ApiError", "BotMessage", "FakeTelegram", "Kind", "Sent"]

JSON = dict[str, Any]
Kind = Literal["message", "edit", "markup", "delete", "document", "photo", "voice", "action",
               "callback_answer", "topic"]
T = TypeVar("T")

MAX_TEXT, MAX_CAPTION, MAX_CALLBACK_DATA = 4096, 1024, 64
MAX_UPLOAD, MAX_PHOTO = 50_000_000, 10_000_000  # what a bot may send; a photo
LONG_POLL_CAP = 1.0  # seconds, so that stopping PTB or the server is fast
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
_RAW_STRINGS = frozenset({"text", "caption", "parse_mode", "callback_query_id", "name", "action",
                          "file_id"})  # PTB sends str values unencoded; "42" stays a str here
_HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                        "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"})
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")


@dataclass(frozen=True)
class Sent:
    """One thing the bot did, in the order the fake received it."""

    kind: Kind
    chat_id: int
    message_id: int | None = None
    text: str | None = None  # text, caption, chat action, callback answer or topic name
    parse_mode: str | None = None
    reply_markup: JSON | None = None  # as the bot sent it
    thread_id: int | None = None
    reply_to: int | None = None
    document_name: str | None = None
    document_bytes: bytes | None = None  # of a document, photo or voice note
    callback_id: str | None = None
    show_alert: bool = False
    at: float = field(default_factory=time.perf_counter, compare=False)


@dataclass(frozen=True)
class BotMessage:
    """One of the bot's messages as it is now, after every edit so far."""

    message_id: int
    text: str | None  # the text, or a document's caption
    parse_mode: str | None
    reply_markup: JSON | None  # only inline keyboards stay on a message
    thread_id: int | None
    document_name: str | None
    edits: int

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


class ApiError(Exception):
    """An error answer; `status` is both the HTTP status and `error_code`."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class _Chat:
    json: JSON
    messages: dict[int, JSON] = field(default_factory=dict)  # users' and bot's, current state
    parse_modes: dict[int, str | None] = field(default_factory=dict)
    edits: dict[int, int] = field(default_factory=dict)
    pressable: dict[int, set[str]] = field(default_factory=dict)  # every callback_data shown
    last_id: int = 0


class FakeTelegram:
    """The Bot API of one bot, on 127.0.0.1:<free port>; every public method is thread-safe."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "gluon_test_bot") -> None:
        self.token = token
        bot_id = token.split(":")[0]
        self.bot_user: JSON = {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True,
                               "first_name": "Gluon", "username": username}
        self.calls: list[tuple[str, JSON]] = []  # (method, params) of every call but getUpdates
        self._records: list[Sent] = []
        self._fetched: dict[tuple[int, int], float] = {}
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, JSON] = {}
        self._updates: list[JSON] = []
        self._last_update_id = self._last_query_id = 0
        self._queries: dict[str, tuple[int, int]] = {}  # callback id -> (chat_id, message_id)
        self._answers: dict[str, tuple[str | None, bool]] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file name, content)
        self._faults: dict[str, deque[ApiError]] = {}
        self._cond = threading.Condition()  # an RLock inside; guards all of the above
        self._listeners: list[Callable[[], None]] = []
        self._handlers: dict[str, Callable[[JSON], object]] = {
            "getMe": lambda p: self.bot_user, "deleteWebhook": lambda p: True,
            "setMyCommands": lambda p: True, "sendMessage": self._send_message,
            "editMessageText": lambda p: self._edit(p, "edit"),
            "editMessageReplyMarkup": lambda p: self._edit(p, "markup"),
            "deleteMessage": self._delete, "answerCallbackQuery": self._answer_callback,
            "sendChatAction": self._chat_action, "sendDocument": self._send_document,
            "sendPhoto": self._send_photo, "sendVoice": self._send_voice,
            "createForumTopic": self._create_topic, "getFile": self._get_file}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None  # set from any thread via _wake_pollers
        self._closing = False
        self.app = Starlette(routes=[
            Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
            Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
        ], lifespan=self._lifespan)
        self._http = ThreadedServer(self.app, "fake-telegram")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving; returns once the port is listening and the app has started."""
        self._http.start()
        if self._loop is None:
            raise RuntimeError("fake Telegram server did not start")

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop, self._new_update = asyncio.get_running_loop(), asyncio.Event()
        self._http.ready()
        yield

    def stop(self) -> None:
        """End pending long polls and stop serving. Safe to call twice."""
        if self._closing or not self._http.running:
            self._closing = True
            return
        self._closing = True
        self._wake_pollers()
        self._http.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- test side: the users act ----------------------------------------------------------

    def user_message(self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private",
                     reply_to: int | None = None, thread_id: int | None = None,
                     is_topic_message: bool = False, username: str | None = None,
                     first_name: str = "Ada", document: tuple[str, bytes] | None = None,
                     forum: bool = False) -> int:
        """Queue an update with a user's message; with a (file name, content) `document`,
        `text` is its caption; `forum` makes the chat a supergroup with topics. Returns the
        message id."""
        with self._cond:
            user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
            if username is not None:
                user["username"] = username
            self._users[user_id] = user
            chat = self._chat(chat_id, chat_type)
            if forum:
                chat.json["is_forum"] = True
            message = self._new_message(chat, user, thread_id, reply_to)
            key = "caption" if document else "text"
            if text or not document:
                message[key] = text
            if text.startswith("/"):  # CommandHandler only matches with this entity
                message[f"{key}_entities" if document else "entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            if document is not None:
                message["document"] = self._store_file(*document)
            if is_topic_message:
                message["is_topic_message"] = True
            self._queue_update("message", message)
            return int(message["message_id"])

    def user_voice(self, chat_id: int, user_id: int, data: bytes, duration: int, *,
                   audio: str | None = None, reply_to: int | None = None,
                   thread_id: int | None = None, is_topic_message: bool = False,
                   chat_type: str = "private", mime_type: str = "audio/ogg") -> int:
        """Queue a user's voice note (`audio`: a file name, for an audio file instead), its
        bytes downloadable with getFile; returns the message id."""
        with self._cond:
            user: JSON = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                          "first_name": "Ada"})
            message = self._new_message(self._chat(chat_id, chat_type), user, thread_id,
                                        reply_to)
            stored = self._store_file(audio or "voice.oga", data)
            note: JSON = {"file_id": stored["file_id"], "file_unique_id": stored["file_unique_id"],
                          "duration": duration, "mime_type": mime_type, "file_size": len(data)}
            if audio is not None:
                note["file_name"] = audio
            message["audio" if audio is not None else "voice"] = note
            if is_topic_message:
                message["is_topic_message"] = True
            self._queue_update("message", message)
            return int(message["message_id"])

    def press_button(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """Queue a callback query from the button with `data` on a bot message; its id."""
        with self._cond:
            chat = self._chats.get(chat_id)
            message = chat.messages.get(message_id) if chat else None
            if message is None:
                raise AssertionError(f"no message {message_id} in chat {chat_id}")
            shown = chat.pressable.get(message_id, set()) if chat else set()
            if data not in shown:  # a stale button, since removed, can still be pressed
                raise AssertionError(f"message {message_id} never had a button {data!r}: "
                                     f"{sorted(shown)!r}")
            self._last_query_id += 1
            query_id = str(4_000_000_000 + self._last_query_id)
            self._queries[query_id] = (chat_id, message_id)
            user = self._users.get(user_id, {"id": user_id, "is_bot": False,
                                             "first_name": f"User {user_id}"})
            self._queue_update("callback_query", {
                "id": query_id, "from": user, "chat_instance": f"instance-{chat_id}",
                "data": data, "message": copy.deepcopy(message)})
            return query_id

    def rate_limit(self, method: str = "sendMessage", times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with a 429 (PTB raises RetryAfter)."""
        self._fail(method, times, ApiError(429, f"Too Many Requests: retry after {retry_after}",
                                           retry_after))

    def fail_next(self, method: str, status: int = 400, description: str | None = None,
                  times: int = 1) -> None:
        """Answer the next `times` calls of `method` with this error (502: a NetworkError)."""
        self._fail(method, times, ApiError(status, description or HTTPStatus(status).phrase))

    def _fail(self, method: str, times: int, error: ApiError) -> None:
        with self._cond:
            self._faults.setdefault(method, deque()).extend([error] * times)

    # -- test side: what the bot did -------------------------------------------------------

    def sent(self, chat_id: int | None = None, kind: Kind | None = None) -> list[Sent]:
        """Everything the bot did (in `chat_id`, of `kind`), oldest first; failed calls
        record nothing."""
        with self._cond:
            return [r for r in self._records
                    if chat_id in (None, r.chat_id) and kind in (None, r.kind)]

    def messages(self, chat_id: int) -> dict[int, BotMessage]:
        """The bot's undeleted messages in `chat_id` by message id, as they are now."""
        with self._cond:
            chat = self._chats.get(chat_id)
            return {} if chat is None else {
                mid: _view(chat, m) for mid, m in chat.messages.items()
                if m["from"]["id"] == self.bot_user["id"]}

    @property
    def callback_answers(self) -> dict[str, tuple[str | None, bool]]:
        """(text, show_alert) by callback query id, for every answered query."""
        with self._cond:
            return dict(self._answers)

    async def wait_for(self, predicate: Callable[[FakeTelegram], bool],
                       timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until `predicate(self)` holds, re-checking it after every change; else raise
        AssertionError with what the bot sent. A LookupError in `predicate` means "not yet"."""
        await wait_until(self._cond, self._listeners, lambda: predicate(self), self.dump,
                         timeout)

    def dump(self) -> str:
        """What the bot did, one line each, for assertion messages."""
        lines = [f"  chat {r.chat_id}: {r.kind} #{r.message_id} {r.text!r}"
                 + (f" markup={r.reply_markup}" if r.reply_markup else "") for r in self.sent()]
        return "the bot sent:\n" + ("\n".join(lines) or "  nothing")

    # -- HTTP ------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            if request.path_params["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await _read_params(request)
            with self._cond:
                if faults := self._faults.get(method):
                    raise faults.popleft()
            if method == "getUpdates":
                result: object = await self._get_updates(params)
            elif (handler := self._handlers.get(method)) is None:
                raise ApiError(404, "Not Found")
            else:
                with self._cond:
                    result = handler(params)
                    self.calls.append((method, params))
                    self._changed()
        except ApiError as exc:  # the one place errors become answers
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse({"ok": True, "result": result})

    async def _download(self, request: Request) -> Response:
        with self._cond:
            stored = self._files.get(PurePath(request.path_params["file_path"]).stem)
        if request.path_params["token"] != self.token or stored is None:
            return JSONResponse(ApiError(404, "Not Found").body(), status_code=404)
        return Response(stored[1], media_type="application/octet-stream")

    async def _get_updates(self, p: JSON) -> list[JSON]:
        offset, limit = _opt(p, "offset", int) or 0, min(_opt(p, "limit", int) or 100, 100)
        assert self._loop is not None and self._new_update is not None
        deadline = self._loop.time() + min(float(p.get("timeout") or 0), LONG_POLL_CAP)
        while True:
            with self._cond:  # as in Telegram, an offset confirms every earlier update
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = copy.deepcopy(self._updates[:max(limit, 1)])
                self._new_update.clear()
                for update in ready:  # when the bot first got each message (for benchmarks)
                    message = update.get("message")
                    if message is not None:
                        self._fetched.setdefault(
                            (message["chat"]["id"], message["message_id"]), time.perf_counter())
            remaining = deadline - self._loop.time()
            if ready or remaining <= 0 or self._closing:
                return ready
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._new_update.wait()

    def reply_seconds(self, chat_id: int, message_id: int) -> float:
        """From the bot fetching a user's message to its next sendMessage in that chat."""
        with self._cond:
            fetched = self._fetched[(chat_id, message_id)]
            reply = next(r for r in self._records if r.kind == "message"
                         and r.chat_id == chat_id and r.at > fetched)
        return reply.at - fetched

    def _wake_pollers(self) -> None:
        if self._loop is not None and self._new_update is not None:
            with contextlib.suppress(RuntimeError):  # the server loop has closed
                self._loop.call_soon_threadsafe(self._new_update.set)

    # -- Bot API methods, called with the lock held ----------------------------------------

    def _send_message(self, p: JSON) -> JSON:
        text, markup = _need(p, "text", str), _markup(p)
        _check_length(text, _opt(p, "parse_mode", str), MAX_TEXT, "message is too long")
        message = self._bot_message(p, markup)
        message["text"] = text
        return self._record_message("message", message, markup)

    def _edit(self, p: JSON, kind: Kind) -> JSON:
        """editMessageText (`kind` "edit") or editMessageReplyMarkup ("markup")."""
        chat, message = self._target(p, "message to edit not found")
        mid, markup = message["message_id"], _markup(p)
        text, parse_mode = message.get("text"), chat.parse_modes.get(mid)
        if message["from"] != self.bot_user:
            raise ApiError(400, "Bad Request: message can't be edited")
        if kind == "edit":
            text, parse_mode = _need(p, "text", str), _opt(p, "parse_mode", str)
            _check_length(text, parse_mode, MAX_TEXT, "message is too long")
            if "text" not in message:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if (message.get("text"), chat.parse_modes.get(mid), message.get("reply_markup")) == (
                text, parse_mode, _inline(markup)):
            raise ApiError(400, NOT_MODIFIED)
        self._attach(chat, message, markup)  # a keyboard the edit does not repeat is dropped
        if text is not None:
            message["text"] = text
        message["edit_date"], chat.parse_modes[mid] = int(time.time()), parse_mode
        chat.edits[mid] = chat.edits.get(mid, 0) + 1
        return self._record_message(kind, message, markup)

    def _delete(self, p: JSON) -> bool:
        chat, message = self._target(p, "message to delete not found")
        del chat.messages[message["message_id"]]
        self._record(Sent("delete", chat.json["id"], message["message_id"]))
        return True

    def _answer_callback(self, p: JSON) -> bool:
        query_id = _need(p, "callback_query_id", str)
        if query_id not in self._queries or query_id in self._answers:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or "
                                "query ID is invalid")
        text, show_alert = _opt(p, "text", str), bool(p.get("show_alert"))
        self._answers[query_id] = (text, show_alert)
        chat_id, message_id = self._queries[query_id]
        self._record(Sent("callback_answer", chat_id, message_id, text, callback_id=query_id,
                          show_alert=show_alert))
        return True

    def _chat_action(self, p: JSON) -> bool:
        self._record(Sent("action", _need(p, "chat_id", int), text=_need(p, "action", str),
                          thread_id=_opt(p, "message_thread_id", int)))
        return True

    def _send_document(self, p: JSON) -> JSON:
        message, upload, markup = self._media_message(p, "document")
        message["document"] = self._store_file(*upload)
        return self._record_message("document", message, markup, upload[1])

    def _send_photo(self, p: JSON) -> JSON:
        message, upload, markup = self._media_message(p, "photo", MAX_PHOTO)
        stored = self._store_file(*upload)
        message["photo"] = [{"file_id": stored["file_id"],
                             "file_unique_id": stored["file_unique_id"], "width": 1,
                             "height": 1, "file_size": stored["file_size"]}]
        return self._record_message("photo", message, markup, upload[1])

    def _send_voice(self, p: JSON) -> JSON:
        message, upload, markup = self._media_message(p, "voice")
        stored = self._store_file(*upload)
        message["voice"] = {"file_id": stored["file_id"],
                            "file_unique_id": stored["file_unique_id"], "duration": 1,
                            "mime_type": "audio/ogg", "file_size": stored["file_size"]}
        return self._record_message("voice", message, markup, upload[1])

    def _media_message(self, p: JSON, key: str, max_photo: int | None = None
                       ) -> tuple[JSON, tuple[str, bytes], JSON | None]:
        """A new bot message for an upload in parameter `key` (or a file_id sent again),
        with its caption; the upload is (file name, content)."""
        caption, markup = _opt(p, "caption", str), _markup(p)
        if caption:
            _check_length(caption, _opt(p, "parse_mode", str), MAX_CAPTION,
                          "message caption is too long")
        upload = p.get(key)
        if isinstance(upload, str) and upload in self._files:  # resending by file_id
            upload = self._files[upload]
        if not isinstance(upload, tuple) or not upload[1]:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if len(upload[1]) > MAX_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        if max_photo is not None and len(upload[1]) > max_photo:
            raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
        message = self._bot_message(p, markup)
        if caption:
            message["caption"] = caption
        return message, upload, markup

    def _create_topic(self, p: JSON) -> JSON:
        chat, name = self._chat(_need(p, "chat_id", int)), _need(p, "name", str)
        if chat.json["type"] != "supergroup":
            raise ApiError(400, "Bad Request: the chat is not a forum")
        chat.json["is_forum"] = True
        chat.last_id += 1  # a topic's id is the id of its "topic created" service message
        self._record(Sent("topic", chat.json["id"], text=name, thread_id=chat.last_id))
        return {"message_thread_id": chat.last_id, "name": name,
                "icon_color": _opt(p, "icon_color", int) or 7322096}

    def _get_file(self, p: JSON) -> JSON:
        file_id = _need(p, "file_id", str)
        if (stored := self._files.get(file_id)) is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(stored[1]),
                "file_path": f"documents/{file_id}{PurePath(stored[0]).suffix}"}

    # -- state, with the lock held ---------------------------------------------------------

    def _chat(self, chat_id: int, chat_type: str | None = None) -> _Chat:
        if (chat := self._chats.get(chat_id)) is None:
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            chat = self._chats[chat_id] = _Chat({"id": chat_id, "type": kind})
            if kind != "private":
                chat.json["title"] = f"Chat {chat_id}"
        return chat

    def _new_message(self, chat: _Chat, sender: JSON, thread_id: int | None,
                     reply_to: int | None) -> JSON:
        if reply_to is not None and reply_to not in chat.messages:
            raise ApiError(400, "Bad Request: message to be replied not found")
        chat.last_id += 1
        message: JSON = {"message_id": chat.last_id, "date": int(time.time()),
                         "chat": dict(chat.json), "from": sender}
        if thread_id is not None:
            message["message_thread_id"] = thread_id
        if reply_to is not None:  # Telegram does not nest replies any deeper
            message["reply_to_message"] = copy.deepcopy(
                {k: v for k, v in chat.messages[reply_to].items() if k != "reply_to_message"})
        chat.messages[chat.last_id] = message
        return message

    def _bot_message(self, p: JSON, markup: JSON | None) -> JSON:
        """A new bot message from the parameters every send method shares."""
        reply = (_opt(p, "reply_parameters", dict) or {}).get("message_id")
        reply = reply if reply is not None else _opt(p, "reply_to_message_id", int)
        thread_id = _opt(p, "message_thread_id", int)
        chat = self._chat(_need(p, "chat_id", int))
        message = self._new_message(chat, self.bot_user, thread_id, reply)
        if thread_id is not None:
            message["is_topic_message"] = True
        self._attach(chat, message, markup)
        chat.parse_modes[message["message_id"]] = _opt(p, "parse_mode", str)
        return message

    def _attach(self, chat: _Chat, message: JSON, markup: JSON | None) -> None:
        """Set the message's keyboard: only inline keyboards stay on a message."""
        message.pop("reply_markup", None)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
            chat.pressable.setdefault(message["message_id"], set()).update(
                b["callback_data"] for row in markup["inline_keyboard"] for b in row
                if "callback_data" in b)

    def _record_message(self, kind: Kind, message: JSON, markup: JSON | None,
                        document_bytes: bytes | None = None) -> JSON:
        """Record a new or edited message; a copy of it, for the answer."""
        chat = self._chats[message["chat"]["id"]]
        now = _view(chat, message)
        reply_to = message.get("reply_to_message", {}).get("message_id")
        self._record(Sent(kind, chat.json["id"], now.message_id, now.text, now.parse_mode, markup,
                          now.thread_id, reply_to, now.document_name, document_bytes))
        return copy.deepcopy(message)

    def _target(self, p: JSON, missing: str) -> tuple[_Chat, JSON]:
        chat = self._chats.get(_need(p, "chat_id", int))
        message = chat.messages.get(_need(p, "message_id", int)) if chat else None
        if chat is None or message is None:
            raise ApiError(400, f"Bad Request: {missing}")
        return chat, message

    def _store_file(self, name: str, data: bytes) -> JSON:
        file_id = f"file{len(self._files) + 1}"
        self._files[file_id] = (name, data)
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name,
                "file_size": len(data)}

    def _queue_update(self, kind: str, payload: JSON) -> None:
        with self._cond:
            self._last_update_id += 1
            self._updates.append({"update_id": self._last_update_id, kind: payload})
            self._changed()
        self._wake_pollers()

    def _record(self, sent: Sent) -> None:
        self._records.append(sent)
        self._changed()

    def _changed(self) -> None:
        for notify in self._listeners:
            notify()


def _opt(p: JSON, key: str, kind: type[T]) -> T | None:
    value = p.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, f"Bad Request: {key} must be of type {kind.__name__}")
    return value


def _need(p: JSON, key: str, kind: type[T]) -> T:
    if (value := _opt(p, key, kind)) is None:
        raise ApiError(400, f"Bad Request: {key} is empty")
    return value


def _markup(p: JSON) -> JSON | None:
    markup = _opt(p, "reply_markup", dict)
    for button in [b for row in (markup or {}).get("inline_keyboard", []) for b in row]:
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _inline(markup: JSON | None) -> JSON | None:
    """What a message keeps of `markup`: only inline keyboards stay attached."""
    return markup if markup and "inline_keyboard" in markup else None


def _view(chat: _Chat, message: JSON) -> BotMessage:
    mid = message["message_id"]
    return BotMessage(mid, message.get("text", message.get("caption")), chat.parse_modes.get(mid),
                      copy.deepcopy(message.get("reply_markup")), message.get("message_thread_id"),
                      message.get("document", {}).get("file_name"), chat.edits.get(mid, 0))


def _check_length(text: str, parse_mode: str | None, limit: int, too_long: str) -> None:
    visible = _parse_html(text) if (parse_mode or "").upper() == "HTML" else text
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(visible) > limit:
        raise ApiError(400, f"Bad Request: {too_long}")


def _parse_html(text: str) -> str:
    """The text Telegram shows for HTML `text`; ApiError where Telegram cannot parse it."""
    open_tags: list[str] = []
    for tag in _TAG.finditer(text):
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if name not in _HTML_TAGS or closing and (not open_tags or open_tags.pop() != name):
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported or unmatched "
                                f"tag {tag.group(0)!r} at offset {tag.start()}")
        if not closing:
            open_tags.append(name)
    if open_tags or "<" in (visible := _TAG.sub("", text)):
        raise ApiError(400, "Bad Request: can't parse entities: unclosed tag or unescaped '<'")
    return html.unescape(visible)


async def _read_params(request: Request) -> JSON:
    """Query, form or multipart parameters with JSON-encoded values; an uploaded file becomes
    (file name, content)."""
    raw, params = list(request.query_params.multi_items()), dict[str, Any]()
    if request.method == "POST":
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    params[key] = (value.filename or key, await value.read())
                else:
                    raw.append((key, value))
    for key, text in raw:
        params[key] = text
        if key not in _RAW_STRINGS:
            with contextlib.suppress(ValueError):
                params[key] = json.loads(text)
    return params
