"""The Discord bot end to end: the real discord.py against a fake Discord (REST and gateway),
the real `anthropic` client against the scripted model server, real runs of the real Claude
Code CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anthropic
import pytest

from bots.discord_bot import DiscordBot
from bots.orchestrator import Orchestrator
from core.config import Config
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, make_repo, wait_state
from tests.fakes import scripts as s
from tests.fakes.discord import DiscordMessage, FakeDiscord
from tests.fakes.model_server import ScriptedModelServer

TOKEN = "MTAwMDAwMQ.fake.discord-token"
BOT = 1_000_001
GUILD, OTHER_GUILD = 500, 900
GENERAL, TOPICAL, ELSEWHERE = 600, 601, 901
ADA, BOB, EVE = 42, 43, 666
DM_ADA = 700
DEVS = 510  # a Discord role mapped to operator


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    with FakeDiscord(token=TOKEN, bot_id=BOT) as fake, fake.patch_discord():
        fake.add_guild(GUILD, "Team")
        fake.add_role(GUILD, DEVS, "devs")
        fake.add_channel(GUILD, GENERAL, "general")
        fake.add_channel(GUILD, TOPICAL, "web", topic="The web app --project other --model opus")
        for user, name in ((ADA, "ada"), (BOB, "bob"), (EVE, "eve")):
            fake.add_member(GUILD, user, name)
        fake.add_guild(OTHER_GUILD, "Elsewhere")
        fake.add_channel(OTHER_GUILD, ELSEWHERE, "chat")
        fake.add_member(OTHER_GUILD, ADA, "ada")
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"discord": base.discord.model_copy(update={
        "users": [ADA, BOB], "guild": [GUILD]})})


class Gluon:
    """The daemon's side: a runtime and its Discord bot, which a test may restart."""

    def __init__(self, config: Config, model_server: ScriptedModelServer) -> None:
        self.config, self.model_server = config, model_server
        self.runtime = Runtime(config, environ=daemon_environ())
        self.bot: DiscordBot | None = None

    async def start_bot(self) -> DiscordBot:
        llm = anthropic.AsyncAnthropic(base_url=self.model_server.base_url, api_key="sk-test",
                                       max_retries=0)
        self.bot = DiscordBot(self.runtime, Orchestrator(self.runtime, llm), TOKEN,
                              guild_ready_timeout=0.2)
        await self.bot.start(ready_timeout=20)
        return self.bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None


@pytest.fixture
async def gluon(config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
                repo: Path, tmp_path: Path) -> AsyncIterator[Gluon]:
    g = Gluon(config, model_server)
    await g.runtime.open()
    await g.runtime.projects.add("demo", str(repo))
    await g.runtime.projects.add("other", str(make_repo(tmp_path / "other")))
    await g.start_bot()
    try:
        yield g
    finally:
        await g.stop_bot()
        await g.runtime.close()


def contents(fake: FakeDiscord, channel: int) -> list[str]:
    return [m.content for m in fake.messages(channel).values()]


def find(fake: FakeDiscord, channel: int, text: str) -> DiscordMessage:
    return next(m for m in fake.messages(channel).values() if text in m.content)


def card(message: DiscordMessage) -> dict[str, str]:
    """A run card's fields by name, and its title."""
    [embed] = message.embeds
    return {"title": embed["title"], **{f["name"]: f["value"] for f in embed["fields"]}}


async def test_a_request_in_a_linked_channel_gets_a_thread_a_live_card_and_a_ping(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    runtime = gluon.runtime
    discord_api.user_message(GENERAL, ADA, "link demo", mentions_bot=True)
    await discord_api.wait_for(lambda f: any("Linked" in t for t in contents(f, GENERAL)))
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    model_server.script("SCRIPT:start", [
        s.tool("start_run", {"prompt": "SCRIPT:agent-hello add hello"}),
        s.text("Started a run on **demo**.")])
    request = discord_api.user_message(GENERAL, ADA, "SCRIPT:start add a hello file")
    await discord_api.wait_for(lambda f: any(t.starter_message_id == request
                                             for t in f.threads.values()), timeout=60)
    [thread] = [t for t in discord_api.threads.values() if t.starter_message_id == request]
    await discord_api.wait_for(lambda f: any("finished" in t for t in contents(f, thread.id)),
                               timeout=60)
    [run] = await runtime.runs.store.find()
    assert run.project == "demo" and run.created_by == "discord:42"
    assert run.short in thread.name and thread.parent_id == GENERAL
    assert "Started a run on **demo**." in contents(discord_api, GENERAL)
    status = next(m for m in discord_api.messages(thread.id).values() if m.embeds)
    fields = card(status)
    assert fields["Project"] == "demo" and f"Run {run.short}" in fields["title"]
    assert "review" in fields["title"] and fields["Branch"] == f"`{run.branch}`"
    assert status.edits >= 1  # the one card, edited in place
    ping = find(discord_api, thread.id, "finished")
    assert ping.content.startswith(f"<@{ADA}>") and "Committed hello.txt." in ping.content
    assert ping.reply_to == status.id
    assert [x for x in discord_api.sent(GENERAL) if x.kind == "typing"]
