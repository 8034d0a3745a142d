""""What needs me?" in Telegram: the orchestrator calls list_attention and answers from it,
and /attention lists the same items without the model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Config
from core.types import RunState
from tests.bots.test_orchestrator import orchestrator_requests
from tests.bots.test_telegram import ADA, serving, texts
from tests.conftest import make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"telegram": base.telegram.model_copy(
        update={"users": [ADA]})})


async def test_what_needs_me_lists_the_waiting_question_then_the_failed_run(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    model_server.script("SCRIPT:c-ask", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                         s.text("ok")])
    model_server.script("SCRIPT:c-fail", [s.error(400, "scripted failure")])
    model_server.script("SCRIPT:needs", [
        s.tool("list_attention", {}),
        s.text("Two things: run A asks which database; run B failed, resume it.")])
    async with serving(config, telegram, model_server, repo) as (_, runtime):
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:c-ask set up storage")
        await telegram.wait_for(lambda f: any("asks: Which database?" in t
                                              for t in texts(f, ADA)), timeout=60)
        failing = await runtime.runs.start_run("demo", "SCRIPT:c-fail break it")
        await wait_state(runtime, failing.id, RunState.FAILED)

        telegram.user_message(ADA, ADA, "SCRIPT:needs what needs me?")
        await telegram.wait_for(lambda f: any(t.startswith("Two things") for t in texts(f, ADA)),
                                timeout=60)
        [body] = [b for b in orchestrator_requests(model_server)
                  if b["messages"][-1]["content"][0].get("type") == "tool_result"]
        result = body["messages"][-1]["content"][0]["content"]
        listed = json.loads(result if isinstance(result, str) else result[0]["text"])["items"]
        assert [(i["kind"], i["action"]) for i in listed] == [
            ("question", "answer_question"), ("run", "resume_run")]
        assert listed[1]["run_id"] == failing.id

        telegram.user_message(ADA, ADA, "/attention")
        await telegram.wait_for(lambda f: any(t.startswith("1. run ") for t in texts(f, ADA)),
                                timeout=30)
        reply = next(t for t in texts(telegram, ADA) if t.startswith("1. run "))
        first, second = reply.splitlines()
        assert "asks: Which database?" in first and "answer_question" in first
        assert second.startswith(f"2. run {failing.short} failed") and "resume_run" in second
