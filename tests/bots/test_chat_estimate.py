"""A run started from chat shows what it will likely cost, from its project's history, on its
status message while it works (the real python-telegram-bot and the fake Bot API)."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Config
from core.types import RunState
from tests.bots.test_telegram import ADA, serving
from tests.conftest import make_config, wait_state
from tests.core.witness.test_money import finished_run
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server, allowed_tools=["Bash"])
    return base.model_copy(update={"telegram": base.telegram.model_copy(
        update={"users": [ADA]})})


async def test_the_status_message_says_what_the_run_will_likely_cost(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    model_server.script("SCRIPT:new", [s.hold("new", s.text("Done."))])
    async with serving(config, telegram, model_server, repo) as (_, runtime):
        costs = []
        for n in (1, 2, 3):
            model_server.script(f"SCRIPT:h{n}", [*(s.bash(f"echo {i}") for i in range(n)),
                                                 s.text("done")])
            costs.append(await finished_run(runtime, "demo", f"SCRIPT:h{n}"))
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:new add a feature")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:new")
        await telegram.wait_for(lambda f: any("💵" in (m.text or "")
                                              for m in f.messages(ADA).values()), timeout=30)
        card = next(m.text or "" for m in telegram.messages(ADA).values()
                    if "💵" in (m.text or ""))
        model_server.release("new")
        [new] = [r for r in await runtime.runs.store.find() if "SCRIPT:new" in r.prompt]
        done = await wait_state(runtime, new.id)

    low, _, high = statistics.quantiles(costs, n=4, method="inclusive")
    assert f"💵 usually ${low:.2f}–{high:.2f} (from the last 3 runs of demo)" in card
    assert f"Run <code>{new.short}</code>" in card and done.state is RunState.REVIEW
