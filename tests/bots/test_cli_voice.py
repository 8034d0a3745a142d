"""Voice notes from the command line: ``gluon voice test`` with the real pocketsphinx and
ffmpeg, ``gluon doctor`` on what voice needs, and ``gluon usage`` counting notes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from core.config import VoiceSettings
from core.doctor import voice_check
from core.runtime import Runtime
from core.voice.service import Heard
from tests.bots.conftest import Gluon, refused
from tests.conftest import make_config
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.transcription import FakeTranscription
from tests.speech import voice_note

GRAMMAR = ("#JSGF V1.0;\ngrammar commands;\n"
           "public <command> = fix the login test in api | merge the pull request;\n")


def test_voice_test_prints_what_the_local_engine_hears(gluon: Gluon, tmp_path: Path) -> None:
    (tmp_path / "commands.jsgf").write_text(GRAMMAR)
    (tmp_path / "note.ogg").write_bytes(voice_note("fix the login test in api"))
    gluon.env.update(GLUON_VOICE_BACKEND="local",
                     GLUON_VOICE_GRAMMAR=str(tmp_path / "commands.jsgf"))
    done = gluon.ok("voice", "test", "note.ogg")
    assert done.out == "fix the login test in api\n"
    assert re.fullmatch(r"\(2\.\d s of audio, transcribed by the local backend in [\d.]+ s, "
                        r"\$0\.0000\)\n", done.err), done.err
    assert gluon.json("voice", "test", "note.ogg")["text"] == "fix the login test in api"


def test_voice_test_with_voice_off_says_how_to_turn_it_on(gluon: Gluon, tmp_path: Path) -> None:
    (tmp_path / "note.ogg").write_bytes(voice_note("hello world"))
    assert 'set [voice] backend = "openai"' in refused(gluon("voice", "test", "note.ogg"))
    gluon.env["GLUON_VOICE_BACKEND"] = "local"
    assert "no file 'missing.ogg'" in refused(gluon("voice", "test", "missing.ogg"))


def test_doctor_checks_what_voice_needs_only_when_it_is_on(
        gluon: Gluon, tmp_path: Path, model_server: ScriptedModelServer) -> None:
    assert not re.search(r"^\w+\s+voice\s", gluon.ok("doctor").out, re.MULTILINE)
    gluon.env.update(GLUON_VOICE_BACKEND="openai", GLUON_VOICE_API_KEY="sk-voice-secret")
    done = gluon.ok("doctor")
    assert re.search(r"^ok\s+voice\s+openai at https://api.openai.com/v1/audio/transcriptions "
                     r"\(whisper-1\), ffmpeg found$", done.out, re.MULTILINE), done.out
    assert "sk-voice-secret" not in done.out
    config = make_config(tmp_path / "home", model_server).model_copy(
        update={"voice": VoiceSettings(backend="local")})
    check = voice_check(config, {"PATH": str(tmp_path)})  # no ffmpeg there
    assert check is not None and check.status == "fail"
    assert check.detail.startswith("ffmpeg and ffprobe missing, and voice notes are on")


def test_usage_shows_the_voice_notes_transcribed(
        gluon: Gluon, model_server: ScriptedModelServer) -> None:
    async def two_notes(base_url: str) -> Heard:
        config = make_config(gluon.home, model_server).model_copy(update={
            "voice": VoiceSettings(backend="openai", base_url=base_url)})
        async with Runtime(config) as runtime:
            await runtime.voice.hear("telegram:42", voice_note("hello world"))
            return await runtime.voice.hear("telegram:42", voice_note("hello world"))

    with FakeTranscription() as transcription:
        transcription.say("hello world")
        heard = asyncio.run(two_notes(transcription.base_url))
    out = gluon.ok("usage").out
    row = re.search(r"^(\d{4}-\d\d-\d\d)\s+2\s+([\d.]+)\s+\$([\d.]+)$", out, re.MULTILINE)
    assert "VOICE NOTES" in out and row is not None, out
    assert abs(float(row.group(3)) - 2 * heard.cost_usd) <= 0.0001
    assert abs(float(row.group(2)) - 2 * heard.seconds / 60) <= 0.01
