"""Voice notes in core: real espeak speech encoded as Telegram sends it, read by the real
ffmpeg, transcribed by a fake OpenAI-compatible service or by the real pocketsphinx."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Config, VoiceSettings
from core.errors import InvalidInput, NotFound
from core.runtime import Runtime
from core.voice.errors import (
    NotAudio,
    RateLimited,
    Silent,
    TooLong,
    TranscriptionFailed,
    Unavailable,
    VoiceOff,
)
from core.voice.service import KEEP_SECONDS, transcribe_file
from tests.conftest import make_config
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.transcription import FakeTranscription
from tests.speech import ogg_seconds, silence, tone, voice_note

ADA = "telegram:42"
PHRASES = ["fix the login test in api", "merge the pull request", "hello world"]


@pytest.fixture
def transcription() -> Iterator[FakeTranscription]:
    with FakeTranscription() as fake:
        yield fake


def voice_config(config: Config, **settings: object) -> Config:
    return config.model_copy(update={"voice": VoiceSettings.model_validate(settings)})


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer,
           transcription: FakeTranscription) -> Config:
    return voice_config(make_config(tmp_path / "home", model_server), backend="openai",
                        base_url=transcription.base_url, api_key="sk-voice-secret",
                        per_user_per_hour=3)


def kept(runtime: Runtime) -> list[str]:
    folder = runtime.config.home / "voice"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def test_a_voice_note_goes_to_the_service_as_the_ogg_it_is_and_its_cost_is_counted(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.say("Fix the login test in api.")
    note = voice_note("fix the login test in api")
    heard = await runtime.voice.hear(ADA, note, {"chat": "42"})
    assert heard.text == "Fix the login test in api."
    [upload] = transcription.requests
    assert upload.data == note and upload.data[:4] == b"OggS"
    assert abs(ogg_seconds(upload.data) - heard.seconds) < 0.05 and 2 < heard.seconds < 4
    assert (upload.filename, upload.content_type) == ("voice.ogg", "audio/ogg")
    assert upload.fields["model"] == "whisper-1"
    assert upload.authorization == "Bearer sk-voice-secret"
    assert kept(runtime) == []  # transcribed: nothing is kept
    assert heard.cost_usd == pytest.approx(heard.seconds / 60 * 0.006)
    [day] = (await runtime.runs.usage.report()).voice_by_day
    assert day.notes == 1 and day.minutes == pytest.approx(heard.seconds / 60, abs=0.01)
    assert day.cost_usd == pytest.approx(heard.cost_usd, abs=1e-6)


async def test_audio_in_a_format_the_api_may_not_take_is_sent_as_wav(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.say("a tone")
    heard = await runtime.voice.hear(ADA, tone(1.0, "aiff"))
    [upload] = transcription.requests
    assert (upload.filename, upload.content_type) == ("voice.wav", "audio/wav")
    assert upload.data[:4] == b"RIFF" and upload.data[8:12] == b"WAVE"
    assert heard.text == "a tone"


async def test_a_service_that_is_down_keeps_the_note_and_a_retry_transcribes_it(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.fail(503)
    with pytest.raises(TranscriptionFailed) as failed:
        await runtime.voice.hear(ADA, voice_note("hello world"), {"chat": "42", "reply": "7"})
    assert "answered 503" in str(failed.value) and "Retry" in str(failed.value)
    assert len(kept(runtime)) == 2  # the audio and who sent it where
    with pytest.raises(InvalidInput, match="Only the person who sent"):
        await runtime.voice.retry(failed.value.note_id, "telegram:7")
    transcription.recover()
    transcription.say("hello world")
    heard, context = await runtime.voice.retry(failed.value.note_id, ADA)
    assert heard.text == "hello world" and context == {"chat": "42", "reply": "7"}
    assert kept(runtime) == []
    assert transcription.requests[-1].data == voice_note("hello world")
    with pytest.raises(NotFound, match="no longer kept"):
        await runtime.voice.retry(failed.value.note_id, ADA)


async def test_a_refused_key_is_said_without_showing_the_key(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.require_key("another-key")
    with pytest.raises(TranscriptionFailed) as failed:
        await runtime.voice.hear(ADA, voice_note("hello world"))
    message = str(failed.value)
    assert "refused the API key (401)" in message and "GLUON_VOICE_API_KEY" in message
    assert "sk-voice-secret" not in message and "\n" not in message


async def test_an_unreachable_service_is_said_in_one_line(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.stop()
    with pytest.raises(TranscriptionFailed, match="is unreachable .*check \\[voice\\] base_url"):
        await runtime.voice.hear(ADA, voice_note("hello world"))


@pytest.mark.parametrize(("data", "error", "words"), [
    (b"%PDF-1.4 not audio at all", NotAudio, "not audio"),
    (silence(), Silent, "silent"),
])
async def test_what_is_not_speech_ends_there_and_reaches_no_service(
        runtime: Runtime, transcription: FakeTranscription, data: bytes,
        error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        await runtime.voice.hear(ADA, data)
    assert transcription.requests == [] and kept(runtime) == []


async def test_an_empty_transcript_is_silence(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.say("   ")
    with pytest.raises(Silent, match="heard nothing"):
        await runtime.voice.hear(ADA, voice_note("mumble"))
    assert kept(runtime) == []
    assert (await runtime.runs.usage.report()).voice_by_day == []


async def test_a_note_over_the_limits_is_refused(
        config: Config, tmp_path: Path, transcription: FakeTranscription) -> None:
    small = voice_config(config, backend="openai", base_url=transcription.base_url,
                         max_seconds=2, max_bytes=50_000)
    async with Runtime(small) as runtime:
        with pytest.raises(TooLong, match="I take notes up to 2 s"):
            runtime.voice.check(seconds=3)
        with pytest.raises(TooLong, match="60 kB; I take notes up to 50 kB"):
            await runtime.voice.hear(ADA, b"\0" * 60_000)
        with pytest.raises(TooLong, match="3 s long; I take notes up to 2 s"):
            await runtime.voice.hear(ADA, tone(3.0))
    assert transcription.requests == []


async def test_a_person_sending_too_many_notes_in_an_hour_is_told_to_wait(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.fail(503)  # a note kept for a retry counts too
    with pytest.raises(TranscriptionFailed) as failed:
        await runtime.voice.hear(ADA, voice_note("hello world"))
    transcription.recover()
    transcription.say("hello world")
    for _ in range(2):
        await runtime.voice.hear(ADA, voice_note("hello world"))
    with pytest.raises(RateLimited, match="3 voice notes in the last hour"):
        await runtime.voice.hear(ADA, voice_note("hello world"))
    await runtime.voice.hear("telegram:7", voice_note("hello world"))  # someone else may
    await runtime.voice.retry(failed.value.note_id, ADA)  # the kept one is already counted
    with pytest.raises(RateLimited):
        await runtime.voice.hear(ADA, voice_note("hello world"))
    assert len(transcription.requests) == 5


async def test_with_voice_off_a_note_is_refused_with_how_to_turn_it_on(
        config: Config) -> None:
    async with Runtime(voice_config(config, backend="off")) as runtime:
        with pytest.raises(VoiceOff, match='backend = "openai"'):
            await runtime.voice.hear(ADA, voice_note("hello world"))


async def test_a_kept_note_is_deleted_after_a_day(
        runtime: Runtime, transcription: FakeTranscription) -> None:
    transcription.fail(503)
    with pytest.raises(TranscriptionFailed) as failed:
        await runtime.voice.hear(ADA, voice_note("hello world"))
    old = time.time() - KEEP_SECONDS - 60
    for name in kept(runtime):
        os.utime(runtime.config.home / "voice" / name, (old, old))
    with pytest.raises(TranscriptionFailed):  # a new note sweeps the old ones away
        await runtime.voice.hear(ADA, voice_note("merge the pull request"))
    assert len(kept(runtime)) == 2
    with pytest.raises(NotFound, match="no longer kept"):
        await runtime.voice.retry(failed.value.note_id, ADA)


async def test_pocketsphinx_with_a_grammar_hears_the_exact_phrase(tmp_path: Path) -> None:
    note = tmp_path / "note.ogg"
    note.write_bytes(voice_note("fix the login test in api"))
    settings = VoiceSettings(backend="local", grammar=PHRASES)
    heard = await transcribe_file(settings, note)
    assert heard.text == "fix the login test in api" and heard.cost_usd == 0


async def test_a_jsgf_grammar_file_works_too(tmp_path: Path) -> None:
    grammar = tmp_path / "commands.jsgf"
    grammar.write_text("#JSGF V1.0;\ngrammar commands;\n"
                       "public <command> = (merge | close) the pull request | hello world;\n")
    note = tmp_path / "note.ogg"
    note.write_bytes(voice_note("merge the pull request"))
    heard = await transcribe_file(VoiceSettings(backend="local", grammar=str(grammar)), note)
    assert heard.text == "merge the pull request"


async def test_a_grammar_word_the_engine_does_not_know_is_named(tmp_path: Path) -> None:
    note = tmp_path / "note.ogg"
    note.write_bytes(voice_note("hello world"))
    settings = VoiceSettings(backend="local", grammar=["frobnicate the zorkmid"])
    with pytest.raises(Unavailable, match="'frobnicate', 'zorkmid' not in the local engine"):
        await transcribe_file(settings, note)
