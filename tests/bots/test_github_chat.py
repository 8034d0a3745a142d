"""A run followed in Telegram shows the GitHub comments that steer it: the real
python-telegram-bot against the fake Bot API, the fake GitHub, a real run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from bots.chat.orchestrator import Orchestrator
from bots.telegram.bot import TelegramBot
from core.github.store import LinkKind
from tests.bots.github_env import OPERATOR, REPO, github_config, link_origin, seq_of, serving
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.github import FakeGitHub
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

ADA = 42


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield fake


def texts(fake: FakeTelegram) -> list[str]:
    return [m.text or "" for m in fake.sent(ADA, "message")]


async def test_the_chat_that_follows_a_run_shows_the_github_comment_that_steered_it(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer, github: FakeGitHub,
        telegram: FakeTelegram) -> None:
    link_origin(repo, tmp_path)
    model_server.script("SCRIPT:gh-chat", [s.bash("echo working"), s.slow_text(3),
                                           s.text("took the hint")])
    issue = github.add_issue(REPO, "Tidy up")
    config = github_config(tmp_path / "home", model_server, github)
    llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                   max_retries=0)
    async with serving(config, repo, github) as served:
        bot = TelegramBot(served.rt, Orchestrator(served.rt, llm), telegram.token,
                          base_url=telegram.base_url)
        await bot.start()
        try:
            await bot.caught_up.wait()
            telegram.user_message(ADA, ADA, "/run demo SCRIPT:gh-chat tidy up")
            await telegram.wait_for(lambda f: any(t.startswith("▶️") for t in texts(f)),
                                    timeout=60)
            [run] = await served.rt.runs.find()
            # The run answers on the issue too (as if GitHub had started it).
            await served.rt.github.store.link(run.id, "demo", repo=REPO, number=issue.number,
                                              kind=LinkKind.ISSUE, branch=run.branch)
            await model_server.await_request(lambda r: r.script_key == "SCRIPT:gh-chat"
                                             and r.step == 1)
            answer = await served.post("issue_comment", github.issue_comment(
                REPO, issue.number, "@gluon keep the changelog too", user=OPERATOR))
            assert (await served.delivery(seq_of(answer))).outcome == f"steered run {run.id}"
            await telegram.wait_for(lambda f: any(t.startswith(f"💬 {OPERATOR} on github")
                                                  for t in texts(f)), timeout=60)
            [shown] = [m for m in telegram.sent(ADA, "message")
                       if (m.text or "").startswith("💬")]
            assert "keep the changelog too" in (shown.text or "")
            [card] = [m for m in telegram.sent(ADA, "message")
                      if (m.text or "").startswith("▶️")]
            assert shown.reply_to == card.message_id
            assert (await wait_state(served.rt, run.id)).state.value == "review"
        finally:
            await bot.stop()
