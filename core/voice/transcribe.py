"""Speech to text: the :class:`Transcriber` protocol and its two backends.

- :class:`OpenAITranscriber`: any OpenAI-compatible ``POST {base_url}/audio/transcriptions``
  (OpenAI, Groq, faster-whisper-server), multipart over httpx. A format the API takes (Ogg,
  MP3, WAV, FLAC, WebM, M4A) is sent as it came; anything else as 16 kHz mono WAV. The key
  goes in the Authorization header only; no message here ever holds it.
- :class:`LocalTranscriber`: pocketsphinx (the ``gluon[voice]`` extra), its English model
  inside its wheel; loaded on first use (about 1 s, 115 MB) and kept. An optional grammar (a
  JSGF file, or a list of phrases) makes it hear only those phrases, exactly.

A backend that is down, or refuses the key or the audio, raises :class:`Unavailable`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from core.config import VoiceSettings
from core.voice import audio
from core.voice.audio import AudioInfo
from core.voice.errors import Unavailable

# ffprobe format names the OpenAI API takes as they are, with the file extension to name them.
ACCEPTED = {"ogg": "ogg", "mp3": "mp3", "wav": "wav", "flac": "flac", "webm": "webm",
            "m4a": "m4a", "mpeg": "mp3"}
TYPES = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac",
         "webm": "audio/webm", "m4a": "audio/mp4"}
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
_WORD = re.compile(r"[a-z']+")


class Transcriber(Protocol):
    """What turns a voice note into text."""

    name: str

    async def transcribe(self, path: Path, info: AudioInfo) -> str:
        """The words said in the file (may be ""); `Unavailable` when the backend fails."""
        ...

    async def close(self) -> None: ...


def transcriber_for(settings: VoiceSettings) -> Transcriber:
    assert settings.backend != "off"
    if settings.backend == "openai":
        return OpenAITranscriber(settings)
    return LocalTranscriber(settings)


class OpenAITranscriber:
    name = "openai"

    def __init__(self, settings: VoiceSettings, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.settings = settings
        self.url = f"{settings.base_url}/audio/transcriptions"
        self.where = urlsplit(settings.base_url).netloc or settings.base_url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def transcribe(self, path: Path, info: AudioInfo) -> str:
        ext = next((ACCEPTED[f] for f in info.format.split(",") if f in ACCEPTED), None)
        if ext is not None:
            data = await asyncio.to_thread(path.read_bytes)
        else:  # a format the API may not take: WAV, which every one does
            ext, data = "wav", await audio.to_wav(path)
        fields = {"model": self.settings.model, "response_format": "json"}
        if self.settings.language:
            fields["language"] = self.settings.language
        headers = {}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        try:
            response = await self._client.post(
                self.url, headers=headers, data=fields,
                files={"file": (f"voice.{ext}", data, TYPES[ext])})
        except httpx.TransportError as exc:
            raise Unavailable(f"The transcription service at {self.where} is unreachable "
                              f"({type(exc).__name__}); check [voice] base_url and the "
                              "network, then press Retry.") from None
        status = response.status_code
        if status in (401, 403):
            raise Unavailable(f"The transcription service at {self.where} refused the API key "
                              f"({status}); set a valid [voice] api_key (GLUON_VOICE_API_KEY), "
                              "then press Retry.")
        if status != 200:
            raise Unavailable(f"The transcription service at {self.where} answered {status} "
                              f"({_reason(response)}); press Retry later.")
        try:
            body: Any = response.json()
            return str(body["text"])
        except (ValueError, KeyError, TypeError):
            raise Unavailable(f"The transcription service at {self.where} answered without a "
                              "transcript; check [voice] base_url.") from None

    async def close(self) -> None:
        await self._client.aclose()


def _reason(response: httpx.Response) -> str:
    """The error's own words, short: OpenAI's ``{"error": {"message": ...}}`` or the body."""
    try:
        body: Any = response.json()
        message = body["error"]["message"] if isinstance(body.get("error"), dict) else \
            body.get("error") or body.get("detail") or ""
    except (ValueError, AttributeError, KeyError, TypeError):
        message = response.text
    message = " ".join(str(message).split())
    return (message[:150] + "…" if len(message) > 150 else message) or response.reason_phrase


class LocalTranscriber:
    name = "local"

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._decoder: Any = None
        self._lock = asyncio.Lock()  # one decoder, one note at a time

    async def transcribe(self, path: Path, info: AudioInfo) -> str:
        pcm = await audio.to_pcm(path)
        async with self._lock:
            return await asyncio.to_thread(self._decode, pcm)

    def _decode(self, pcm: bytes) -> str:
        decoder = self._loaded()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    def _loaded(self) -> Any:
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder  # type: ignore[import-untyped]
            except ImportError:
                raise Unavailable("The local voice backend needs pocketsphinx: install "
                                  "Gluon with its voice extra (uv sync --extra voice).") from None
            decoder = Decoder(samprate=audio.RATE, loglevel="FATAL")
            grammar = self.settings.grammar
            if grammar is not None:
                _listen_for(decoder, grammar)
            self._decoder = decoder
        return self._decoder

    async def close(self) -> None:
        self._decoder = None


def jsgf(phrases: list[str]) -> str:
    """A JSGF grammar whose one public rule is any of `phrases` (lower case, words only)."""
    alternatives = [" ".join(_WORD.findall(p.lower())) for p in phrases]
    body = " | ".join(a for a in alternatives if a)
    if not body:
        raise Unavailable("[voice] grammar has no words; list phrases such as "
                          "[\"fix the login test\"], or name a JSGF file.")
    return f"#JSGF V1.0;\ngrammar gluon;\npublic <phrase> = {body};\n"


def _listen_for(decoder: Any, grammar: str | list[str]) -> None:
    """Make the decoder hear only the grammar's phrases (a JSGF file, or a list)."""
    if isinstance(grammar, list):
        text = jsgf(grammar)
        unknown = sorted({w for w in _WORD.findall(text.split("=", 1)[1])
                          if decoder.lookup_word(w) is None})
        if unknown:
            raise Unavailable(f"[voice] grammar: {', '.join(map(repr, unknown[:5]))} not in the "
                              "local engine's dictionary; use other words.")
        where = "[voice] grammar"
    else:
        try:
            text = Path(grammar).expanduser().read_text()
        except OSError as exc:
            raise Unavailable(f"[voice] grammar file {grammar!r} cannot be read "
                              f"({exc.strerror}); fix the path.") from None
        where = f"[voice] grammar file {grammar!r}"
    try:
        decoder.add_jsgf_string("gluon", text.encode())
        decoder.activate_search("gluon")
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise Unavailable(f"{where} is not a grammar the local engine takes ({first}); "
                          "check its JSGF and that its words are English.") from None
