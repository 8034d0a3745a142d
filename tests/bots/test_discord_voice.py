"""Voice messages in Discord, end to end: real espeak speech encoded as Discord's clients
send it, the real discord.py against the fake Discord, a fake OpenAI-compatible transcription
service, the orchestrator against the scripted model server and real agent runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.config import Config, VoiceSettings
from core.types import RunState
from tests.bots.test_discord import (
    ADA,
    DM_ADA,
    EVE,
    GENERAL,
    Gluon,
    contents,
    find,
    run_thread,
    serving,
)
from tests.bots.test_discord import config as config  # noqa: F401 (the fixture)
from tests.bots.test_discord import discord_api as discord_api  # noqa: F401 (the fixture)
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.discord import FakeDiscord
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.transcription import FakeTranscription
from tests.speech import voice_note

DM_EVE = 766


@pytest.fixture
def transcription() -> Iterator[FakeTranscription]:
    with FakeTranscription() as fake:
        yield fake


@pytest.fixture
async def gluon(config: Config, discord_api: FakeDiscord,  # noqa: F811
                model_server: ScriptedModelServer, transcription: FakeTranscription,
                repo: Path) -> AsyncIterator[Gluon]:
    voice = VoiceSettings.model_validate({"backend": "openai", "api_key": "sk-voice",
                                          "base_url": transcription.base_url})
    async with serving(config.model_copy(update={"voice": voice}), model_server,
                       {"demo": repo}) as g:
        yield g


def downloads(fake: FakeDiscord) -> int:
    return sum(1 for _, path, _ in fake.calls if path.startswith("/attachments/"))


async def test_a_voice_message_starts_a_run_and_a_voice_reply_to_its_ping_resumes_it(
        gluon: Gluon, discord_api: FakeDiscord, transcription: FakeTranscription,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-two", [s.text("First pass done."),
                                             s.text("Second pass done.")])
    model_server.script("SCRIPT:voice-start", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:agent-two tidy up"}),
        s.text("Started a run on demo.")])
    transcription.say("SCRIPT:voice-start tidy up demo", "and update the docs")
    note = voice_note("tidy up demo")
    sent = discord_api.user_voice(DM_ADA, ADA, note, 2.6)
    await discord_api.wait_for(lambda f: any("First pass done." in t
                                             for t in contents(f, DM_ADA)), timeout=60)
    said = [m for m in discord_api.messages(DM_ADA).values() if m.author_id != ADA]
    assert said[0].content == "🎙 SCRIPT:voice-start tidy up demo"
    assert said[0].reply_to == sent and said[1].content == "Started a run on demo."
    assert transcription.requests[0].data == note
    assert transcription.requests[0].content_type == "audio/ogg"
    ping = find(discord_api, DM_ADA, "First pass done.")
    discord_api.user_voice(DM_ADA, ADA, voice_note("and update the docs"), 1.8,
                           message_reference=ping.id)
    await discord_api.wait_for(lambda f: any("Second pass done." in t
                                             for t in contents(f, DM_ADA)), timeout=60)
    texts = contents(discord_api, DM_ADA)
    assert "🎙 and update the docs" in texts
    assert any(t.startswith("Resumed run") for t in texts)
    [run] = await gluon.runtime.runs.store.find()
    assert run.state is RunState.REVIEW and run.turns >= 2


async def test_a_voice_message_in_a_runs_thread_steers_the_running_agent(
        gluon: Gluon, discord_api: FakeDiscord, transcription: FakeTranscription,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-steer", [s.bash("echo working"), s.slow_text(3),
                                               s.text("took the hint")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                            "prompt": "SCRIPT:agent-steer refactor"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:agent-steer"
                                     and r.step == 1)
    transcription.say("please also update the readme")
    discord_api.user_voice(thread, ADA, voice_note("please also update the readme"), 2.2)
    await discord_api.wait_for(lambda f: any("Steering run" in t for t in contents(f, thread)))
    assert "🎙 please also update the readme" in contents(discord_api, thread)
    assert (await wait_state(gluon.runtime, run_id)).state is RunState.REVIEW
    assert any("please also update the readme" in r.all_text() for r in model_server.requests
               if r.script_key == "SCRIPT:agent-steer")


async def test_a_strangers_voice_message_is_refused_before_it_is_downloaded(
        gluon: Gluon, discord_api: FakeDiscord, transcription: FakeTranscription) -> None:
    discord_api.user_voice(DM_EVE, EVE, voice_note("delete everything"), 1.5)
    await discord_api.wait_for(lambda f: any("not allowed" in t
                                             for t in contents(f, DM_EVE)))
    assert transcription.requests == [] and downloads(discord_api) == 0


async def test_a_service_that_is_down_gets_one_line_and_retry_works_once_it_is_back(
        gluon: Gluon, discord_api: FakeDiscord, transcription: FakeTranscription,
        model_server: ScriptedModelServer) -> None:
    transcription.fail(401)
    discord_api.user_voice(DM_ADA, ADA, voice_note("what is running"), 1.5)
    await discord_api.wait_for(lambda f: any(m.buttons for m in f.messages(DM_ADA).values()))
    failure = find(discord_api, DM_ADA, "refused the API key")
    assert "\n" not in failure.content and "sk-voice" not in failure.content
    [(label, retry)] = failure.buttons
    assert label == "Retry"
    discord_api.click(failure.id, ADA, retry)  # still refused: only Ada is told, privately
    await discord_api.wait_for(lambda f: any(m.ephemeral and "refused the API key" in m.content
                                             for m in f.messages(DM_ADA).values()))
    assert discord_api.message(failure.id).buttons
    transcription.recover()
    transcription.say("SCRIPT:voice-status what is running")
    model_server.script("SCRIPT:voice-status", [s.text("Nothing is running.")])
    discord_api.click(failure.id, ADA, retry)
    await discord_api.wait_for(lambda f: "Nothing is running." in contents(f, DM_ADA))
    assert "🎙 SCRIPT:voice-status what is running" in contents(discord_api, DM_ADA)
    assert not discord_api.message(failure.id).buttons
    assert "Transcribed on retry" in discord_api.message(failure.id).content
    assert len(transcription.requests) == 3 and downloads(discord_api) == 1
