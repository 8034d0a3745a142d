"""Voice notes in Telegram, end to end: real espeak speech encoded as Telegram sends it, the
real python-telegram-bot against the fake Bot API, a fake OpenAI-compatible transcription
service, the orchestrator against the scripted model server and real agent runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bots.telegram.bot import TelegramBot
from core.config import Config, VoiceSettings
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_telegram import ADA, EVE, serving, texts
from tests.conftest import make_config
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.transcription import FakeTranscription
from tests.speech import ogg_seconds, silence, voice_note


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def transcription() -> Iterator[FakeTranscription]:
    with FakeTranscription() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer,
           transcription: FakeTranscription) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA]}),
        "voice": VoiceSettings.model_validate({
            "backend": "openai", "base_url": transcription.base_url, "api_key": "sk-voice",
            "max_seconds": 60})})


@pytest.fixture
async def bot(config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
              repo: Path) -> AsyncIterator[tuple[TelegramBot, Runtime]]:
    async with serving(config, telegram, model_server, repo) as served:
        yield served


def downloads(telegram: FakeTelegram) -> int:
    return sum(1 for method, _ in telegram.calls if method == "getFile")


async def test_a_voice_note_starts_the_run_it_describes_after_showing_its_transcript(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        transcription: FakeTranscription, model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    model_server.script("SCRIPT:voice-start", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:agent-hello add hello"}),
        s.text("Started a run on **demo**.")])
    transcription.say("SCRIPT:voice-start add a hello file to demo")
    note = voice_note("add a hello file to demo")
    sent = telegram.user_voice(ADA, ADA, note, duration=3)
    await telegram.wait_for(lambda f: any("finished" in t for t in texts(f, ADA)), timeout=60)
    [upload] = transcription.requests
    assert upload.data == note and upload.data[:4] == b"OggS" and ogg_seconds(upload.data) > 2
    said = telegram.sent(ADA, "message")
    assert said[0].text == "🎙 SCRIPT:voice-start add a hello file to demo"
    assert said[0].reply_to == sent
    assert said[1].text == "Started a run on <b>demo</b>."
    [run] = await runtime.runs.store.find()
    assert run.state is RunState.REVIEW and run.created_by == "telegram:42"
    assert (await runtime.runs.usage.report()).voice_by_day[0].notes == 1


async def test_a_voice_note_in_a_runs_topic_goes_to_the_run(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        transcription: FakeTranscription, model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    group = -100321
    model_server.script("SCRIPT:agent-topic", [s.text("First pass done."),
                                               s.text("Second pass done.")])
    telegram.user_message(group, ADA, "/run demo SCRIPT:agent-topic tidy up",
                          chat_type="supergroup", forum=True)
    await telegram.wait_for(lambda f: any("First pass done." in t for t in texts(f, group)),
                            timeout=60)
    [topic] = telegram.sent(group, "topic")
    transcription.say("now update the docs")
    telegram.user_voice(group, ADA, voice_note("now update the docs"), duration=2,
                        chat_type="supergroup", thread_id=topic.thread_id,
                        is_topic_message=True)
    await telegram.wait_for(lambda f: any("Second pass done." in t for t in texts(f, group)),
                            timeout=60)
    [run] = await runtime.runs.store.find()
    assert "🎙 now update the docs" in texts(telegram, group)
    assert any(t.startswith("Resumed run") for t in texts(telegram, group))
    follow_up = [r for r in model_server.requests if "now update the docs" in str(r.body)]
    assert follow_up and run.state is RunState.REVIEW and run.turns >= 2


async def test_a_strangers_voice_note_is_refused_before_it_is_downloaded(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        transcription: FakeTranscription) -> None:
    telegram.user_voice(EVE, EVE, voice_note("delete everything"), duration=2)
    await telegram.wait_for(lambda f: bool(f.messages(EVE)))
    assert texts(telegram, EVE)[0].startswith("You are not allowed to use this bot.")
    assert transcription.requests == [] and downloads(telegram) == 0


async def test_a_service_that_is_down_gets_one_line_and_retry_works_once_it_is_back(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        transcription: FakeTranscription, model_server: ScriptedModelServer) -> None:
    transcription.fail(503)
    telegram.user_voice(ADA, ADA, voice_note("what is running"), duration=2)
    await telegram.wait_for(lambda f: any(m.buttons for m in f.messages(ADA).values()))
    [failure] = telegram.messages(ADA).values()
    assert failure.text is not None and "answered 503" in failure.text
    assert "\n" not in failure.text and [b[0] for b in failure.buttons] == ["Retry"]
    data = failure.buttons[0][1]
    query = telegram.press_button(ADA, ADA, failure.message_id, data)  # still down
    await telegram.wait_for(lambda f: query in f.callback_answers)
    assert "answered 503" in (telegram.callback_answers[query][0] or "")
    assert telegram.messages(ADA)[failure.message_id].buttons  # it can be retried again
    transcription.recover()
    transcription.say("SCRIPT:voice-status what is running")
    model_server.script("SCRIPT:voice-status", [s.text("Nothing is running.")])
    telegram.press_button(ADA, ADA, failure.message_id, data)
    await telegram.wait_for(lambda f: "Nothing is running." in texts(f, ADA))
    assert "🎙 SCRIPT:voice-status what is running" in texts(telegram, ADA)
    assert telegram.messages(ADA)[failure.message_id].buttons == []
    assert [u.data for u in transcription.requests] == [voice_note("what is running")] * 3


async def test_what_cannot_be_transcribed_gets_one_line_and_nothing_runs(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        transcription: FakeTranscription, model_server: ScriptedModelServer) -> None:
    telegram.user_voice(ADA, ADA, b"%PDF-1.4 a document, not audio", duration=5,
                        audio="notes.mp3", mime_type="audio/mpeg")
    telegram.user_voice(ADA, ADA, voice_note("a very long story"), duration=61)
    telegram.user_voice(ADA, ADA, silence(), duration=2)
    await telegram.wait_for(lambda f: len(f.messages(ADA)) == 3)
    lines = sorted(texts(telegram, ADA))
    assert [line.split(" ", 2)[1] for line in lines] == ["That", "That", "That"]
    assert any("not audio" in line for line in lines)
    assert any("1 min 1 s long; I take notes up to 1 min 0 s" in line for line in lines)
    assert any("silent" in line for line in lines)
    assert all("\n" not in line for line in lines)
    assert downloads(telegram) == 2  # the one announced as too long was not downloaded
    assert transcription.requests == [] and model_server.requests == []


async def test_with_voice_off_a_note_gets_one_line_on_turning_it_on(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        transcription: FakeTranscription, repo: Path) -> None:
    off = config.model_copy(update={"voice": VoiceSettings()})
    async with serving(off, telegram, model_server, repo):
        telegram.user_voice(ADA, ADA, voice_note("hello world"), duration=1)
        await telegram.wait_for(lambda f: bool(f.messages(ADA)))
    [line] = texts(telegram, ADA)
    assert "Voice notes are off here" in line and 'backend = "openai"' in line
    assert downloads(telegram) == 0
