"""Pings survive the bot being away: the real python-telegram-bot against a fake Bot API, real
runs of the real Claude Code CLI, the bot stopped and started again around them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import pytest

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

ADA = 42


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"telegram": base.telegram.model_copy(
        update={"users": [ADA]})})


@asynccontextmanager
async def bot_on(runtime: Runtime, telegram: FakeTelegram,
                 model_server: ScriptedModelServer) -> AsyncIterator[TelegramBot]:
    """The Telegram bot of this runtime, from when it has reported what it missed until the
    block ends."""
    llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                   max_retries=0)
    bot = TelegramBot(runtime, Orchestrator(runtime, llm), telegram.token,
                      base_url=telegram.base_url)
    await bot.start()
    try:
        await bot.caught_up.wait()
        yield bot
    finally:
        await bot.stop()


def texts(fake: FakeTelegram) -> list[str]:
    return [m.text or "" for m in fake.sent(ADA, "message")]


def pings(fake: FakeTelegram) -> list[str]:
    return [t for t in texts(fake) if " finished." in t]


async def test_a_run_that_finishes_while_the_bot_is_stopped_is_pinged_once_when_it_is_back(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    model_server.script("SCRIPT:agent-away", [
        s.hold("away", then=s.text("Done while you were away."))])
    runtime = await Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]).open()
    try:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-away tidy up")
            await model_server.await_request(lambda r: r.script_key == "SCRIPT:agent-away",
                                             timeout=60)
            await telegram.wait_for(lambda f: any(t.startswith("▶️") for t in texts(f)),
                                    timeout=60)
        [run] = await runtime.runs.store.find()
        model_server.release("away")  # the run finishes while nobody reports it
        assert (await wait_state(runtime, run.id)).state is RunState.REVIEW
        assert pings(telegram) == []
        async with bot_on(runtime, telegram, model_server):
            await telegram.wait_for(lambda f: bool(pings(f)), timeout=60)
        [ping] = [m for m in telegram.sent(ADA, "message") if " finished." in (m.text or "")]
        assert "Done while you were away." in (ping.text or "")
        [card] = [m for m in telegram.sent(ADA, "message") if (m.text or "").startswith("▶️")]
        assert card.message_id is not None
        assert ping.reply_to == card.message_id  # under the run's status message, as ever
        assert (telegram.messages(ADA)[card.message_id].text or "").startswith("✅")
        sent = len(telegram.sent(ADA))
        async with bot_on(runtime, telegram, model_server):
            pass
        assert len(telegram.sent(ADA)) == sent  # started again: nothing new to say
    finally:
        await runtime.close()
    # Gluon itself restarts: the bot's place in the event log was kept in the database.
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime, \
            bot_on(runtime, telegram, model_server):
        pass
    assert len(telegram.sent(ADA)) == sent and len(pings(telegram)) == 1


async def test_a_question_asked_while_the_bot_is_stopped_is_asked_when_it_is_back(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    model_server.script("SCRIPT:agent-asks-later", [
        s.hold("ask", then=s.ask("Which database?", ["Postgres", "SQLite"])),
        s.text("Going with the answer.")])
    runtime = await Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]).open()
    try:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-asks-later set up storage")
            await telegram.wait_for(lambda f: any(t.startswith("▶️") for t in texts(f)),
                                    timeout=60)
        [run] = await runtime.runs.store.find()
        model_server.release("ask")
        await wait_state(runtime, run.id, RunState.WAITING)
        async with bot_on(runtime, telegram, model_server):
            await telegram.wait_for(lambda f: any("asks: Which database?" in t
                                                  for t in texts(f)), timeout=60)
            [question] = [m for m in telegram.messages(ADA).values()
                          if "asks: Which database?" in (m.text or "")]
            telegram.press_button(ADA, ADA, question.message_id, question.buttons[1][1])
            assert (await wait_state(runtime, run.id)).state is RunState.REVIEW
            await telegram.wait_for(lambda f: bool(pings(f)), timeout=60)
    finally:
        await runtime.close()
    assert sum("asks: Which database?" in t for t in texts(telegram)) == 1
