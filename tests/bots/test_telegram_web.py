"""``/web`` in Telegram: a sign-in link to the status page, only ever in the person's private
chat with the bot (whoever opens a link first is signed in as them), through the real
python-telegram-bot against the fake Bot API and the orchestrator against the scripted model."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.config import Config
from core.runtime import Runtime
from core.types import Role
from tests.bots.test_orchestrator import orchestrator_requests
from tests.bots.test_telegram import serving, texts
from tests.conftest import make_config
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

ADA, BOB, VI, EVE = 42, 7, 9, 666
GROUP = -100123
PAGE = "http://127.0.0.1:8765"
LINK = re.compile(r"http://127\.0\.0\.1:8765/signin/(\S+)")


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"telegram": base.telegram.model_copy(
        update={"users": [ADA, BOB], "viewers": [VI]})})


@pytest.fixture
async def runtime(config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
                  repo: Path) -> AsyncIterator[Runtime]:
    """The bot running, with the status page served at PAGE."""
    async with serving(config, telegram, model_server, repo) as (_, rt):
        rt.web.served_at = PAGE
        yield rt


async def stored_text(runtime: Runtime) -> str:
    """Every row of every table, as text."""
    tables = await runtime.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    rows = {t["name"]: [list(r) for r in await runtime.db.fetchall(
        f'SELECT * FROM "{t["name"]}"')] for t in tables}
    return json.dumps(rows, default=str)


def tokens(fake: FakeTelegram, chat: int) -> list[str]:
    return [m for t in texts(fake, chat) for m in LINK.findall(t)]


async def said(fake: FakeTelegram, chat: int, words: str) -> str:
    await fake.wait_for(lambda f: any(words in t for t in texts(f, chat)))
    return next(t for t in texts(fake, chat) if words in t)


async def test_web_in_a_private_chat_gives_a_link_that_signs_in_as_the_speakers_role(
        runtime: Runtime, telegram: FakeTelegram) -> None:
    [commands] = [p for m, p in telegram.calls if m == "setMyCommands"]
    assert "web" in [c["command"] for c in commands["commands"]]
    telegram.user_message(ADA, ADA, "/web")
    message = await said(telegram, ADA, "Your sign-in link")
    assert "It works once, for 10 minutes" in message
    [token] = tokens(telegram, ADA)
    _, signed = await runtime.web.sign_in(token)
    assert (signed.session.actor, signed.session.role) == ("telegram:42", Role.OPERATOR)
    assert signed.session.name == "Ada"

    telegram.user_message(VI, VI, "/web", first_name="Vi")
    await said(telegram, VI, "Your sign-in link")
    _, viewer = await runtime.web.sign_in(tokens(telegram, VI)[0])
    assert (viewer.session.actor, viewer.session.role) == ("telegram:9", Role.VIEWER)

    telegram.user_message(EVE, EVE, "/web", first_name="Eve")
    await said(telegram, EVE, "You are not allowed to use this bot")
    assert tokens(telegram, EVE) == []
    assert [s.actor for s in await runtime.web.sessions()] == ["telegram:42", "telegram:9"]
    telegram.user_message(ADA, ADA, "/help")
    help_text = await said(telegram, ADA, "/web signout")
    assert "/web - a sign-in link to the status page, sent to you privately" in help_text


async def test_web_in_a_group_sends_the_link_privately_and_never_posts_it(
        runtime: Runtime, telegram: FakeTelegram, model_server: ScriptedModelServer) -> None:
    telegram.user_message(ADA, ADA, "/start")  # Ada has a private chat with the bot
    await said(telegram, ADA, "you are in as operator")
    telegram.user_message(GROUP, ADA, "/web", chat_type="supergroup")
    note = await said(telegram, GROUP, "sign-in link")
    assert note == "I sent Ada a sign-in link to the status page in a private message."
    [token] = tokens(telegram, ADA)
    assert (await runtime.web.sign_in(token))[1].session.actor == "telegram:42"

    # Bob never started a chat with the bot: Telegram refuses, and the group is told why.
    telegram.fail_next("sendMessage", 403, "Forbidden: bot can't initiate conversation with "
                       "a user")
    telegram.user_message(GROUP, BOB, "/web", chat_type="supergroup", first_name="Bob")
    refusal = await said(telegram, GROUP, "could not send Bob")
    assert refusal == ("I could not send Bob a private message, and a sign-in link must not be "
                       "posted here: start a private chat with me and send /web there.")
    assert telegram.messages(BOB) == {}

    # Asked in words, the orchestrator takes the same path: the model never sees the link.
    model_server.script("SCRIPT:page", [s.tool("create_web_link", {}),
                                        s.text("Check your private chat with me.")])
    telegram.user_message(GROUP, ADA, "SCRIPT:page give me a link to the status page",
                          chat_type="supergroup")
    await said(telegram, GROUP, "Check your private chat with me.")
    await telegram.wait_for(lambda f: len(tokens(f, ADA)) == 2)
    assert tokens(telegram, GROUP) == [] and "/signin/" not in json.dumps(
        [r.body for r in model_server.requests])
    told = orchestrator_requests(model_server)[-1]["messages"][-1]["content"][0]
    assert told["content"] == ("I sent Ada a sign-in link to the status page in a private "
                               "message. (The link is not shown to you.)")
    _, signed = await runtime.web.sign_in(tokens(telegram, ADA)[1])
    assert signed.session.actor == "telegram:42"
    # Nowhere in the database either: not in the conversation, not in the activity log.
    stored = await stored_text(runtime)
    assert "chat_turns" in stored and "tool.create_web_link" in stored
    assert not [t for t in tokens(telegram, ADA) if t in stored]


async def test_web_signout_ends_the_sessions_once_confirmed(
        runtime: Runtime, telegram: FakeTelegram, model_server: ScriptedModelServer) -> None:
    cookies = []
    for _ in range(2):
        link = await runtime.web.create_link("telegram:42", Role.OPERATOR)
        cookies.append((await runtime.web.sign_in(link.url.rsplit("/", 1)[1]))[0])
    telegram.user_message(ADA, ADA, "/web signout")
    ask = await said(telegram, ADA, "Confirm: sign you out")
    assert ask == "Confirm: sign you out of the status page in 2 browser(s)?"
    [message] = [m for m in telegram.messages(ADA).values() if m.text == ask]
    telegram.press_button(ADA, ADA, message.message_id, message.buttons[0][1])
    await said(telegram, ADA, "Done (Ada confirmed): sign you out of the status page")
    assert [await runtime.web.session(c) for c in cookies] == [None, None]

    # In words: the same confirmation, then nothing left to sign out.
    model_server.script("SCRIPT:out", [s.tool("revoke_web_sessions", {}),
                                       s.text("Nothing to sign out.")])
    telegram.user_message(ADA, ADA, "SCRIPT:out sign me out of the web page")
    await said(telegram, ADA, "Nothing to sign out.")
    told = orchestrator_requests(model_server)[-1]["messages"][-1]["content"][0]
    assert told["is_error"] and "you have no browser signed in to the status page" in \
        told["content"]
