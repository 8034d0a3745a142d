"""The forecast in chat: two runs started from Telegram change the same file, and each run's
thread is told of the other, under its status message. The real python-telegram-bot against
the fake Bot API, real runs of the real Claude Code CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import pytest

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.runtime import Runtime
from tests.conftest import daemon_environ, make_config
from tests.fakes import scripts as s
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer
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


def wrote(key: str) -> Callable[[RecordedRequest], bool]:
    """The agent of script ``key`` has written its file."""
    return lambda r: r.script_key == key and r.step == 1


def texts(fake: FakeTelegram) -> list[str]:
    return [m.text or "" for m in fake.sent(ADA, "message")]


def warnings(fake: FakeTelegram) -> list[str]:
    return [t for t in texts(fake) if t.startswith("⚠ Also changing")]


async def test_each_run_s_chat_is_told_of_the_other_run_changing_the_same_file(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    for key in ("SCRIPT:chat-fa", "SCRIPT:chat-fb"):
        model_server.script(key, [s.write("api/auth.py", f"{key}\n"),
                                  s.hold(key, then=s.text("done"))])
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime:
        await runtime.projects.add("demo", str(repo))
        llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                       max_retries=0)
        bot = TelegramBot(runtime, Orchestrator(runtime, llm), telegram.token,
                          base_url=telegram.base_url)
        await bot.start()
        try:
            await bot.caught_up.wait()
            for key in ("SCRIPT:chat-fa", "SCRIPT:chat-fb"):
                telegram.user_message(ADA, ADA, f"/run demo {key} sign-in")
                await model_server.await_request(wrote(key), timeout=60)
            await telegram.wait_for(
                lambda f: sum(t.startswith("▶️") for t in texts(f)) == 2, timeout=60)
            [b, a] = await runtime.runs.find()  # newest first
            assert len(await runtime.forecast.check()) == 2
            await telegram.wait_for(lambda f: len(warnings(f)) == 2, timeout=60)
            cards = {run_id: m.message_id for m in telegram.sent(ADA, "message")
                     for run_id in (a.id, b.id)
                     if (m.text or "").startswith("▶️") and run_id in (m.text or "")}
            for run, other in ((a, b), (b, a)):
                [warning] = [m for m in telegram.sent(ADA, "message")
                             if (m.text or "").startswith("⚠ Also changing")
                             and other.id in (m.text or "")]
                assert warning.reply_to == cards[run.id]  # under the run's status message
                assert "api/auth.py" in (warning.text or "")
                assert f"{other.id}</code> (running)" in (warning.text or "")
                assert "Merging the second one will likely conflict." in (warning.text or "")
            assert await runtime.forecast.check() == []  # told once
        finally:
            await bot.stop()
            for key in ("SCRIPT:chat-fa", "SCRIPT:chat-fb"):
                model_server.release(key)
