"""Spoken completion pings: with ``[speech]`` on, the ping of an ended run is followed by a voice
note made by an OpenAI-compatible speech endpoint (the fake one, answering a real OGG/Opus
clip); an endpoint that is down never holds the text ping back, and is logged once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bots.chat.migrations import CHAT_TABLES
from core.config import Config, SpeechSettings
from core.runtime import Runtime
from core.speech import spoken
from tests.bots.test_chat_pings import bot_on
from tests.bots.test_model_api_errors import closed_port
from tests.conftest import daemon_environ, make_config
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.speech_api import FakeSpeech, opus_clip
from tests.fakes.telegram_api import FakeTelegram

ADA = 42
KEY = "sk-speech-secret"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def speech() -> Iterator[FakeSpeech]:
    with FakeSpeech(key=KEY) as fake:
        yield fake


def speaking(tmp_path: Path, model_server: ScriptedModelServer, base_url: str) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA]}),
        "speech": SpeechSettings(enabled=True, base_url=base_url, api_key=SecretStr(KEY),
                                 voice="nova", model="tts-1")})


def pings(fake: FakeTelegram) -> list[int]:
    return [r.message_id or 0 for r in fake.sent(ADA, "message") if " finished." in (r.text or "")]


async def test_the_ping_of_an_ended_run_is_followed_by_a_voice_note(
        tmp_path: Path, telegram: FakeTelegram, speech: FakeSpeech,
        model_server: ScriptedModelServer, repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = speaking(tmp_path, model_server, speech.base_url)
    model_server.script("SCRIPT:agent-tidy", [s.text("Tidied up the **README**.")])
    caplog.set_level(logging.INFO)
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-tidy tidy up")
            await telegram.wait_for(lambda f: bool(f.sent(ADA, "voice")), timeout=60)
        [run] = await runtime.runs.store.find()
    [voice] = telegram.sent(ADA, "voice")
    assert voice.document_bytes == opus_clip()
    assert voice.reply_to == pings(telegram)[0]  # under the text ping, which came first
    [asked] = speech.requests
    assert asked.authorization == f"Bearer {KEY}"
    assert asked.body == {"model": "tts-1", "voice": "nova", "response_format": "opus",
                          "input": f"Run {run.short} on demo finished. Tidied up the README."}
    assert KEY not in caplog.text


async def test_with_the_speech_endpoint_down_the_text_pings_arrive_and_it_is_logged_once(
        tmp_path: Path, telegram: FakeTelegram, model_server: ScriptedModelServer, repo: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    config = speaking(tmp_path, model_server, f"http://127.0.0.1:{closed_port()}/v1")
    model_server.script("SCRIPT:agent-one", [s.text("One done.")])
    model_server.script("SCRIPT:agent-two", [s.text("Two done.")])
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-one first")
            await telegram.wait_for(lambda f: len(pings(f)) == 1, timeout=60)
            telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-two second")
            await telegram.wait_for(lambda f: len(pings(f)) == 2, timeout=60)
    # The bot has stopped: the voice notes it was making have ended.
    assert not telegram.sent(ADA, "voice")
    warned = [r for r in caplog.records if r.name == "bots.chat.speaking"]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert "cannot be reached" in warned[0].getMessage()


def test_what_is_spoken_is_plain_words_cut_after_a_whole_sentence() -> None:
    assert spoken("✅ Run `3f2a` on **api** finished.\n\nSee https://x.example/a <@42>", 300) \
        == "✅ Run 3f2a on api finished. See"
    text = "First sentence here. Second one is rather longer than that. Third."
    assert spoken(text, 40) == "First sentence here."
    assert spoken("one two three four five six", 12) == "one two..."
