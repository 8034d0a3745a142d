"""The witness in chat: the real python-telegram-bot against the fake Bot API, the real Claude
Code CLI against the scripted model server. A run started in chat whose agent stalls (its model
stream held, its process idle) is restarted from its session by its project's policy, and the
chat says so under the run's status message, with buttons (Ignore silences its alarms); one
that loops is nudged, and "what needs me?" lists an older waiting question first."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.cli import output
from bots.telegram.bot import TelegramBot
from core.config import Config, ProjectConfig, WitnessConfig
from core.runtime import Runtime
from core.types import RunState
from core.witness import Classification
from tests.bots.test_telegram import ADA, BOB, serving, texts
from tests.bots.test_telegram import bot as bot  # noqa: F401 (fixtures)
from tests.bots.test_telegram import telegram as telegram  # noqa: F401
from tests.conftest import make_config, wait_state
from tests.core.witness.test_witness import FAILING
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram
from tests.mcp_tools.client import connected


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA, BOB]}),
        "witness": WitnessConfig(interval_seconds=0.3, stalled_after_seconds=2,
                                 stalled_cpu_percent=5),
        "projects": {"demo": ProjectConfig(witness="restart")}})


async def test_a_stalled_agent_is_restarted_from_its_session_and_the_chat_says_so(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:ask", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:stall think hard"}),
        s.text("Started it.")])
    model_server.script("SCRIPT:stall", [s.hold("stall", s.text("Back at it."))])
    telegram.user_message(ADA, ADA, "SCRIPT:ask think hard on demo")
    first = await model_server.await_request(lambda r: r.script_key == "SCRIPT:stall")
    await telegram.wait_for(lambda f: any("looks stalled" in t for t in texts(f, ADA)),
                            timeout=60)
    note = next(m for m in telegram.messages(ADA).values() if "looks stalled" in (m.text or ""))
    labels = [label for label, _ in note.buttons]
    ignore = next(data for label, data in note.buttons if label == "Ignore")
    telegram.press_button(ADA, ADA, note.message_id, ignore)
    await telegram.wait_for(lambda f: any("silenced the alarms" in (x.text or "")
                                          for x in f.sent(ADA, "callback_answer")), timeout=30)
    model_server.release("stall")
    [run] = await runtime.runs.store.find()
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=60)
    health = await runtime.witness.health(run.id)

    assert done.state is RunState.REVIEW, done.state_reason
    said, pressed = next(t for t in texts(telegram, ADA) if "looks stalled" in t).split("\n\n")
    assert pressed == f"<i>Ada silenced the alarms of run {run.id}.</i>"
    assert said.startswith(f"⚠ run {run.id} looks stalled: no output for ")
    assert said.endswith("% CPU. Restarting its agent from its session.")
    restarted = [r for r in model_server.requests if "witness restarted you" in r.all_text()]
    assert restarted and restarted[0].session_id == first.session_id
    assert Classification.STALLED in [h.classification for h in health.history]
    assert labels == ["Nudge", "Interrupt", "Cancel", "Ignore"]
    assert health.silenced  # Ignore: a false alarm, nothing more is said or done about it


async def test_a_looping_agent_is_nudged_in_chat_and_what_needs_me_lists_the_question_first(
        tmp_path: Path, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    base = make_config(tmp_path / "home2", model_server, allowed_tools=["Bash"])
    config = base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA]}),
        "witness": WitnessConfig(interval_seconds=0.3, loop_repeats=4),
        "projects": {"demo": ProjectConfig(witness="nudge")}})
    model_server.script("SCRIPT:which", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                         s.text("ok")])
    model_server.script("SCRIPT:spin", [*[s.bash(FAILING)] * 4,
                                        s.hold("spin", s.text("Giving up."))])
    async with serving(config, telegram, model_server, repo) as (_, runtime):
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:which set up storage")
        await telegram.wait_for(lambda f: any("asks: Which database?" in t
                                              for t in texts(f, ADA)), timeout=60)
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:spin list the dir")
        await telegram.wait_for(lambda f: any("looks looping" in t for t in texts(f, ADA)),
                                timeout=90)
        nudged = await model_server.await_request(
            lambda r: r.script_key == "SCRIPT:spin" and "You are repeating yourself"
            in r.all_text(), timeout=60)
        telegram.user_message(ADA, ADA, "/attention")
        await telegram.wait_for(lambda f: any(t.startswith("1. run ") for t in texts(f, ADA)),
                                timeout=30)
        listed = next(t for t in texts(telegram, ADA) if t.startswith("1. run "))
        spin = next(r for r in await runtime.runs.store.find() if "SCRIPT:spin" in r.prompt)
        # Its status message is edited at most about once a second: it says so soon after.
        await telegram.wait_for(lambda f: any(
            f"Run <code>{spin.short}</code>" in (m.text or "") and "🟠 looping" in (m.text or "")
            for m in f.messages(ADA).values()), timeout=30)
        card = next(m.text or "" for m in telegram.messages(ADA).values()
                    if f"Run <code>{spin.short}</code>" in (m.text or ""))
        async with connected(runtime) as client:  # what `gluon runs` prints of it
            listed_runs = (await client.call_tool("list_runs", {})).structured_content
        model_server.release("spin")
        await wait_state(runtime, spin.id, RunState.REVIEW, RunState.FAILED, timeout=60)

    said = next(t for t in texts(telegram, ADA) if "looks looping" in t)
    assert said.startswith(f"⚠ run {spin.id} looks looping: the same call (Run: {FAILING}) 4 "
                           "times in its last 4 tool calls. Nudged its agent.")
    assert nudged.session_id is not None
    first, second = listed.splitlines()[:2]
    assert "asks: Which database?" in first and "answer_question" in first
    assert second.startswith(f"2. run {spin.short} looping: the same call") \
        and "steer_run" in second
    assert "🟠 looping: the same call" in card
    assert listed_runs is not None
    [row] = [line for line in output.runs(listed_runs).splitlines() if spin.id in line]
    assert row.split()[2:4] == ["running", "looping"]
