"""The merge queue in chat: the real python-telegram-bot against a fake Bot API, real runs of
the real Claude Code CLI, real git. A finished run's Merge button queues it once confirmed;
the agent called in on a conflict and an entry that fails are said under the run's status
message, a failure with its buttons, and Cancel takes the entry out of the queue."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import pytest

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.merges.states import MergeState
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import BotMessage, FakeTelegram

ADA = 42
SUB = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
MUL = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def config_for(home: Path, server: ScriptedModelServer, *, test_command: str | None = None,
               conflict_fixes: int = 1) -> Config:
    base = make_config(home, server)
    projects = {"demo": base.project("demo").model_copy(
        update={"test_command": test_command})}
    return base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA]}),
        "merge": base.merge.model_copy(update={"conflict_fixes": conflict_fixes,
                                               "check_fixes": 0}),
        "projects": projects})


@asynccontextmanager
async def bot_on(runtime: Runtime, telegram: FakeTelegram,
                 model_server: ScriptedModelServer) -> AsyncIterator[TelegramBot]:
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


def plain(message: BotMessage) -> str:
    """A message's text as Ada reads it (the bot sends Telegram HTML)."""
    return html.unescape(re.sub(r"<[^>]+>", "", message.text or ""))


def said(fake: FakeTelegram, words: str) -> list[BotMessage]:
    """The bot's messages in Ada's chat (as they are now) that contain ``words``."""
    return [m for m in fake.messages(ADA).values() if words in plain(m)]


async def one(fake: FakeTelegram, words: str) -> BotMessage:
    await fake.wait_for(lambda f: bool(said(f, words)), timeout=120)
    [message] = said(fake, words)
    return message


async def press(fake: FakeTelegram, message: BotMessage, label: str) -> str:
    """Press the button with ``label`` on the message as Ada; a confirmation the press asks
    for (a destructive tool's) is confirmed. What the press said."""
    answers = len(fake.sent(ADA, "callback_answer"))
    fake.press_button(ADA, ADA, message.message_id,
                      next(data for shown, data in message.buttons if shown == label))
    await fake.wait_for(lambda f: len(f.sent(ADA, "callback_answer")) > answers, timeout=60)
    answer = fake.sent(ADA, "callback_answer")[answers].text or ""
    if answer.startswith("Confirm below:"):
        confirm = await one(fake, f"Confirm: {answer.removeprefix('Confirm below: ')[:-1]}?")
        yes = next(shown for shown, _ in confirm.buttons if shown.startswith("Confirm"))
        return await press(fake, confirm, yes)
    return answer


async def finished_from_chat(runtime: Runtime, telegram: FakeTelegram,
                             model_server: ScriptedModelServer, key: str,
                             *steps: s.Step) -> str:
    """A run started with /run in Ada's chat, once it has finished (in review)."""
    model_server.script(key, [*steps, s.text("Done.")])
    known = {r.id for r in await runtime.runs.store.find()}
    telegram.user_message(ADA, ADA, f"/run demo {key} please")
    await model_server.await_request(lambda r: r.script_key == key, timeout=60)
    [run] = [r for r in await runtime.runs.store.find() if r.id not in known]
    assert (await wait_state(runtime, run.id, timeout=120)).state is RunState.REVIEW
    return run.id


async def test_a_merge_pressed_in_chat_that_conflicts_is_reported_and_cancel_takes_it_out(
        tmp_path: Path, repo: Path, telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    config = config_for(tmp_path / "home", model_server)
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            run_id = await finished_from_chat(runtime, telegram, model_server, "SCRIPT:sub",
                                              s.write("app.py", SUB))
            ping = await one(telegram, " finished.")
            assert [label for label, _ in ping.buttons] == ["Merge"]
            assert "press Merge" in plain(ping)
            # main moves on meanwhile, in the same lines of app.py
            (repo / "app.py").write_text(MUL)
            git(repo, "commit", "-qam", "Add mul")
            model_server.script("conflicts with main", [s.text("I could not resolve it.")])

            telegram.press_button(ADA, ADA, ping.message_id, ping.buttons[0][1])
            confirm = await one(telegram, "Confirm: queue 1 run(s) for merging")
            assert await runtime.merges.list() == []  # nothing happens before the confirmation
            yes = next(data for label, data in confirm.buttons if label.startswith("Confirm"))
            telegram.press_button(ADA, ADA, confirm.message_id, yes)

            resolving = await one(telegram, "the agent is resolving them")
            assert plain(resolving) == (f"🔀 Merge queue, run {run_id} into main: conflicts in "
                                      "app.py; the agent is resolving them.")
            failed = await one(telegram, " stopped: ")
            assert "conflicts with main in app.py" in plain(failed)
            assert [label for label, _ in failed.buttons] == ["Let the agent resolve", "Cancel"]
            card = next(m for m in telegram.sent(ADA, "message")
                        if (m.text or "").startswith("▶️"))
            for message in (resolving, failed):  # under the run's status message
                [sent] = [m for m in telegram.sent(ADA, "message")
                          if m.message_id == message.message_id]
                assert sent.reply_to == card.message_id
            [entry] = await runtime.merges.list()
            assert entry.state is MergeState.FAILED and entry.files == ["app.py"]

            await press(telegram, failed, "Cancel")
            note = await one(telegram, "cancelled by telegram:42")
            assert plain(note) == "⏹ Merge queue: cancelled by telegram:42."
            assert telegram.messages(ADA)[failed.message_id].buttons == []  # gone with it
        assert (await runtime.merges.get(entry.id)).state is MergeState.CANCELLED
        assert (await runtime.runs.get(run_id)).state is RunState.REVIEW
        assert "def mul" in (repo / "app.py").read_text()  # main as it was
        assert "def sub" not in (repo / "app.py").read_text()


async def test_failed_checks_offer_retry_and_cancel_and_a_merge_says_where_it_went(
        tmp_path: Path, repo: Path, telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    config = config_for(tmp_path / "home", model_server, test_command="test ! -e broken.txt")
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            broken = await finished_from_chat(runtime, telegram, model_server,
                                              "SCRIPT:broken", s.write("broken.txt", "x\n"))
            fine = await finished_from_chat(runtime, telegram, model_server, "SCRIPT:notes",
                                            s.write("NOTES.md", "notes\n"))
            failing = await runtime.merges.enqueue(broken, actor="telegram:42")
            merging = await runtime.merges.enqueue(fine, actor="telegram:42")

            failed = await one(telegram, " stopped: ")
            assert plain(failed) == (f"❌ Merge queue, run {broken} into main stopped: "
                                   "test ! -e broken.txt failed on the rebased branch; the "
                                   "agent tried 0 time(s); fix it, or retry.")
            assert [label for label, _ in failed.buttons] == ["Retry", "Cancel"]
            merged = await one(telegram, " was merged")
            assert plain(merged).startswith(
                f"🔀 Run {fine} on demo was merged into main by the merge queue (")
            assert (repo / "NOTES.md").exists()

            telegram.user_message(ADA, ADA, "/merges all")
            listed = await one(telegram, "Ended:")
            assert f"{broken} failed" in plain(listed) and f"{fine} merged" in plain(listed)

            assert await press(telegram, failed, "Retry") == "Ada put the merge back in line."
            await telegram.wait_for(lambda f: len(said(f, " stopped: ")) == 2, timeout=120)
            pressed = await one(telegram, "Ada put the merge back in line.")
            assert pressed.message_id == failed.message_id and pressed.buttons == []
        steps = [t[1] for t in await runtime.merges.transitions(failing.id)]
        assert steps.count("failed") == 2 and "waiting" in steps[3:], steps
        assert (await runtime.merges.get(merging.id)).state is MergeState.MERGED
        assert not (repo / "broken.txt").exists()
