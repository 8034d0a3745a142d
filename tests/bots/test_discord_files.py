"""Files from runs in Discord, through the real discord.py against the fake Discord: the
agent's screenshot is posted once in the run's thread (a restart posts nothing again), the
spoken ping follows the text one as an attachment, a file asked for arrives as an attachment
where it was asked, and one over the upload limit as a link to the status page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.config import Config, SpeechSettings
from tests.bots.test_discord import TOKEN, Gluon, contents, serving
from tests.conftest import make_config
from tests.fakes import scripts as s
from tests.fakes.discord import FakeDiscord
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.speech_api import FakeSpeech, opus_clip
from tests.files_run import AGENT, PNG, agent_steps

BOT, GUILD, GENERAL, ADA = 1_000_001, 500, 600, 42


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    with FakeDiscord(token=TOKEN, bot_id=BOT) as fake, fake.patch_discord():
        fake.add_guild(GUILD, "Team")
        fake.add_channel(GUILD, GENERAL, "general")
        fake.add_member(GUILD, ADA, "ada")
        yield fake


@pytest.fixture
def speech() -> Iterator[FakeSpeech]:
    with FakeSpeech() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer, speech: FakeSpeech) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={
        "discord": base.discord.model_copy(update={"users": [ADA], "guild": [GUILD]}),
        "speech": SpeechSettings(enabled=True, base_url=speech.base_url)})


@pytest.fixture
async def gluon(config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
                repo: Path) -> AsyncIterator[Gluon]:
    async with serving(config, model_server, {"demo": repo}) as g:
        g.runtime.web.served_at = "http://127.0.0.1:8765"
        yield g


async def test_the_screenshot_goes_to_the_thread_once_and_a_file_asked_for_is_attached(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script(AGENT, agent_steps())
    model_server.script("SCRIPT:start", [
        s.tool("start_run", {"project": "demo", "prompt": f"{AGENT} write the schema"}),
        s.text("Started.")])
    discord_api.user_message(GENERAL, ADA, "SCRIPT:start write the users schema",
                             mentions_bot=True)
    await discord_api.wait_for(lambda f: bool(f.threads), timeout=60)
    [thread] = discord_api.threads.values()
    await discord_api.wait_for(lambda f: any("finished" in t for t in contents(f, thread.id)),
                               timeout=60)
    [run] = await gluon.runtime.runs.store.find()
    await discord_api.wait_for(lambda f: len([m for m in f.messages(thread.id).values()
                                              if m.attachments]) == 2, timeout=30)
    shot, voice = [m for m in discord_api.messages(thread.id).values() if m.attachments]
    assert shot.attachments == [("shot.png", PNG)]
    assert shot.content == f"🖼 `shot.png` (run {run.short})"
    assert voice.attachments == [("gluon-ping.ogg", opus_clip())]  # the spoken ping
    assert voice.reply_to == next(m.id for m in discord_api.messages(thread.id).values()
                                  if "finished" in m.content)

    model_server.script("SCRIPT:send", [
        s.tool("get_run_file", {"run": run.short, "path": "*.sql"}), s.text("Here it is.")])
    discord_api.user_message(GENERAL, ADA, "SCRIPT:send send me the new schema.sql",
                             mentions_bot=True)
    await discord_api.wait_for(lambda f: any(m.attachments for m in
                                             f.messages(GENERAL).values()), timeout=30)
    [sent] = [m for m in discord_api.messages(GENERAL).values() if m.attachments]
    assert sent.attachments == [("schema.sql", (Path(run.cwd) / "db/schema.sql").read_bytes())]
    assert sent.content == f"`db/schema.sql` of run {run.short}"
    assert "Here it is." in contents(discord_api, GENERAL)

    assert gluon.bot is not None
    gluon.bot.upload_limit = 40  # now the file is too big to attach: a link
    discord_api.user_message(GENERAL, ADA, "SCRIPT:send send it again", mentions_bot=True)
    link = f"http://127.0.0.1:8765/runs/{run.id}/files/db/schema.sql"
    await discord_api.wait_for(lambda f: any(link in t for t in contents(f, GENERAL)),
                               timeout=30)
    [too_big] = [t for t in contents(discord_api, GENERAL) if link in t]
    assert too_big.startswith(f"📎 `db/schema.sql` of run {run.short}: 65 bytes is more "
                              "than Discord lets a bot send (40 bytes)")

    await gluon.restart()
    assert gluon.bot is not None
    await gluon.bot.caught_up.wait()
    assert len([m for m in discord_api.messages(thread.id).values() if m.attachments]) == 2
