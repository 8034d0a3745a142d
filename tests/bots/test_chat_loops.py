"""The autonomous loop in chat: the real python-telegram-bot against the fake Bot API, the
real Claude Code CLI against the scripted model server. "Keep going until ..., at most $10"
starts a loop; the run's status message shows where the loop is, and why its circuit breaker
stopped it is said under it."""

from __future__ import annotations

from bots.telegram.bot import TelegramBot
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_telegram import ADA, texts
from tests.bots.test_telegram import bot as bot  # noqa: F401 (fixtures)
from tests.bots.test_telegram import config as config  # noqa: F401
from tests.bots.test_telegram import telegram as telegram  # noqa: F401
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

STUCK = "Looked again.\nSTATUS: IN_PROGRESS\nEXIT_SIGNAL: false\nERROR: ImportError in auth.py"


async def test_a_loop_asked_for_in_chat_reports_its_breaker_under_its_status_message(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:keep-going", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:stuck build the auth system",
                             "loop": True, "max_cost_usd": 10}),
        s.text("Started a loop on demo, at most $10.")])
    model_server.script("SCRIPT:stuck", [s.text(STUCK)])
    model_server.script("Continue: iteration", [s.text(STUCK)])
    telegram.user_message(ADA, ADA, "SCRIPT:keep-going keep going until the auth system is "
                          "done on demo, at most $10")
    await telegram.wait_for(lambda f: any("Loop stopped" in t for t in texts(f, ADA)),
                            timeout=120)
    [run] = await runtime.runs.store.find()
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=30)
    assert done.state_reason.startswith("loop stopped: the circuit breaker opened")

    messages = texts(telegram, ADA)
    assert "Started a loop on demo, at most $10." in messages
    assert ("🛑 Loop stopped after 3 iteration(s): the circuit breaker opened: no file change "
            "or commit in 3 iterations (same error: ImportError in auth.py).") in messages
    assert any(t.startswith("🔁 Loop started: at most 10 iterations, $10") for t in messages)
    await telegram.wait_for(lambda f: any(t.startswith("✅ <b>Run") for t in texts(f, ADA)),
                            timeout=30)
    status = next(t for t in texts(telegram, ADA) if t.startswith("✅ <b>Run"))
    assert "🔁 loop 3/10 · stopped · breaker open · $" in status and " of $10" in status
