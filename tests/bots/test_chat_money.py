"""Money in chat: the run that passes 80% of a budget says so under its status message (the
real python-telegram-bot against the fake Bot API, the real Claude Code CLI against the
scripted model server)."""

from __future__ import annotations

from bots.telegram.bot import TelegramBot
from core.runtime import Runtime
from tests.bots.test_telegram import ADA, texts
from tests.bots.test_telegram import bot as bot  # noqa: F401 (fixtures)
from tests.bots.test_telegram import config as config  # noqa: F401
from tests.bots.test_telegram import telegram as telegram  # noqa: F401
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram


async def test_a_run_past_80_percent_of_its_budget_warns_in_its_chat(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:tiny", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:spend a little",
                             "budget_usd": 0.0001}),
        s.text("Started it with a budget of $0.0001.")])
    model_server.script("SCRIPT:spend", [s.text("spent it")])
    telegram.user_message(ADA, ADA, "SCRIPT:tiny start a run on demo with a tiny budget")
    await telegram.wait_for(lambda f: any(t.startswith("💸") for t in texts(f, ADA)),
                            timeout=120)
    [warning] = [t for t in texts(telegram, ADA) if t.startswith("💸")]
    assert "of this run's budget of $0.00 is spent" in warning
    [run] = await runtime.runs.store.find()
    await wait_state(runtime, run.id, timeout=30)
