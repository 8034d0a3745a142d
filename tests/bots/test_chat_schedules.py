"""Schedules in chat: made in plain words, listed with ``/schedules``, and their runs reported
in the chat the schedule was made in. The real python-telegram-bot against the fake Bot API,
the real ``anthropic`` client against the scripted model server, a clock moved by hand."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import anthropic

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_telegram import ADA, texts
from tests.bots.test_telegram import config as config  # noqa: F401 (fixtures)
from tests.bots.test_telegram import telegram as telegram  # noqa: F401
from tests.conftest import daemon_environ, wait_state
from tests.fakes import scripts as s
from tests.fakes.clock import ManualClock
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

SUNDAY = dt.datetime(2030, 1, 6, 12, 0, tzinfo=dt.UTC).timestamp()


async def test_every_weekday_at_seven_in_words_becomes_a_schedule_whose_runs_report_here(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    clock = ManualClock(SUNDAY)
    runtime = Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES], clock=clock)
    await runtime.open()
    await runtime.projects.add("demo", str(repo))
    llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                   max_retries=0)
    bot = TelegramBot(runtime, Orchestrator(runtime, llm), telegram.token,
                      base_url=telegram.base_url)
    await bot.start()
    try:
        model_server.script("SCRIPT:every", [
            s.tool("add_schedule", {"project": "demo", "cron": "0 7 * * mon-fri",
                                    "prompt": "SCRIPT:hunt find the flaky tests",
                                    "tz": "UTC"}),
            s.text("Scheduled: weekdays at 07:00 UTC.")])
        model_server.script("SCRIPT:hunt", [s.text("No flaky tests today.")])
        telegram.user_message(ADA, ADA, "SCRIPT:every every weekday at 7 run the flaky test "
                              "hunt on demo")
        await telegram.wait_for(lambda f: "Scheduled: weekdays at 07:00 UTC." in texts(f, ADA))
        [schedule] = await runtime.schedules.list()
        assert (schedule.cron, schedule.created_by, schedule.origin) == (
            "0 7 * * mon-fri", "telegram:42", f"telegram:{ADA}:")
        assert schedule.next_fire_at == SUNDAY + 19 * 3600  # Monday 07:00

        telegram.user_message(ADA, ADA, "/schedules")
        await telegram.wait_for(lambda f: any(t.startswith(f"<code>{schedule.id}</code>")
                                              for t in texts(f, ADA)))
        line = next(t for t in texts(telegram, ADA) if t.startswith(f"<code>{schedule.id}"))
        monday = time.strftime("%a %d %b %H:%M", time.localtime(SUNDAY + 19 * 3600))
        assert "0 7 * * mon-fri" in line and f"next {monday}" in line

        clock.advance(19 * 3600)
        assert await runtime.schedules.tick() == 1
        [run] = await runtime.runs.find()
        assert (await wait_state(runtime, run.id)).state is RunState.REVIEW
        await telegram.wait_for(lambda f: any("finished" in t and run.short in t
                                              for t in texts(f, ADA)), timeout=30)
        ping = next(t for t in texts(telegram, ADA) if "finished" in t)
        assert "No flaky tests today." in ping
    finally:
        await bot.stop()
        await runtime.close()
