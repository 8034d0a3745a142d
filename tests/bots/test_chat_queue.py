"""The work queue in chat: queueing in plain words, ``/queue``, and taking an item out with a
confirmation button. The real python-telegram-bot against the fake Bot API, the real
``anthropic`` client against the scripted model server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bots.telegram.bot import TelegramBot
from core.config import AnthropicConfig, Config
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_telegram import ADA, BOB, serving, texts
from tests.bots.test_telegram import bot as bot  # noqa: F401 (fixtures)
from tests.bots.test_telegram import config as config  # noqa: F401
from tests.bots.test_telegram import telegram as telegram  # noqa: F401
from tests.conftest import daemon_environ
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram


async def test_queue_three_tasks_in_words_list_them_and_take_one_out(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer, repo: Path) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:queue3", [
        s.tool("queue_work", {"project": "demo", "prompt": "fix the login", "start_at": "+2h"}),
        s.tool("queue_work", {"project": "demo", "prompt": "bump the deps", "start_at": "+2h",
                              "priority": 5}),
        s.tool("queue_work", {"project": "demo", "prompt": "tidy the docs", "start_at": "+3h"}),
        s.text("Queued three runs on demo.")])
    telegram.user_message(ADA, ADA, "SCRIPT:queue3 queue these three for later: fix the login, "
                          "bump the deps, tidy the docs")
    await telegram.wait_for(lambda f: "Queued three runs on demo." in texts(f, ADA))
    runs = {r.prompt: r for r in await runtime.runs.store.find()}
    assert set(runs) == {"fix the login", "bump the deps", "tidy the docs"}
    assert all(r.state is RunState.QUEUED and r.source == "chat"
               and r.created_by == "telegram:42" for r in runs.values())

    telegram.user_message(ADA, BOB, "/queue")
    await telegram.wait_for(lambda f: any(t.startswith("1. ") for t in texts(f, ADA)))
    listing = next(t for t in texts(telegram, ADA) if t.startswith("1. "))
    lines = listing.splitlines()
    assert len(lines) == 3
    assert runs["bump the deps"].short in lines[0] and "priority 5" in lines[0]
    assert runs["fix the login"].short in lines[1] and "starts " in lines[1]
    assert runs["tidy the docs"].short in lines[2]

    gone = runs["tidy the docs"]
    model_server.script("SCRIPT:unqueue", [
        s.tool("cancel_queued", {"run": gone.id}),
        s.text("That waits for your confirmation.")])
    telegram.user_message(ADA, ADA, "SCRIPT:unqueue take the docs one out")
    await telegram.wait_for(lambda f: "That waits for your confirmation." in texts(f, ADA))
    ask = next(m for m in telegram.messages(ADA).values()
               if (m.text or "") == "That waits for your confirmation.")
    assert ask.buttons and "cancel_queued" in ask.buttons[0][0]
    assert (await runtime.runs.get(gone.id)).state is RunState.QUEUED
    telegram.press_button(ADA, ADA, ask.message_id, ask.buttons[0][1])
    await telegram.wait_for(lambda f: "Done (Ada confirmed)" in (
        f.messages(ADA)[ask.message_id].text or ""))
    assert (await runtime.runs.get(gone.id)).state is RunState.CANCELLED
    queued = [i.id for i in await runtime.work.items()]
    assert queued == [runs["bump the deps"].id, runs["fix the login"].id]


async def test_people_following_a_run_are_told_when_the_usage_limit_pauses_it(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    subscription = config.model_copy(update={"anthropic": AnthropicConfig(
        base_url=model_server.base_url)})
    environ = {**daemon_environ(), "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-test-token"}
    reset = time.time() + 3600
    model_server.script("SCRIPT:limited", [s.usage_limit(reset)])
    async with serving(subscription, telegram, model_server, repo, environ) as (_, runtime):
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:limited a long job")
        await telegram.wait_for(lambda f: any(t.startswith("⏸ Run") for t in texts(f, ADA)),
                                timeout=60)
        [run] = await runtime.runs.find()
        until = time.strftime("%H:%M", time.localtime(reset))
        note = next(t for t in texts(telegram, ADA) if t.startswith("⏸ Run"))
        assert note == (f"⏸ Run <code>{run.short}</code> on demo paused until {until}: usage "
                        "limit; it goes on by itself then.")
        assert run.state is RunState.QUEUED and run.not_before == pytest.approx(reset, abs=1)
