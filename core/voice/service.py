"""Voice notes: from the audio a person sent to the text Gluon then handles as if typed.

Every chat adapter hands a note to :meth:`Voice.hear` once the sender passed the access
check (a stranger's note is never downloaded). In order:

1. voice must be on (``[voice] backend``), the note within ``max_bytes`` and the sender under
   ``per_user_per_hour`` notes (counted from the usage table, so a restart keeps the count);
2. the note is kept in ``GLUON_HOME/voice/`` under a fresh id, with who sent it and where
   (the adapter's own context, to route a retried transcript the same way);
3. ffmpeg reads it: not audio, longer than ``max_seconds`` or silent ends it there;
4. the backend transcribes it. Once it has, the note is deleted and its length and cost are
   recorded (``[voice] price_per_minute``) for the usage report. An empty transcript is
   silence. A backend that fails leaves the note kept: :class:`TranscriptionFailed` carries
   its id, and :meth:`Voice.retry` transcribes it again (only for whoever sent it).

Kept notes older than a day are deleted whenever a note comes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.budget.usage import Usage
from core.config import VoiceSettings
from core.errors import InvalidInput, NotFound
from core.voice import audio
from core.voice.errors import (
    RateLimited,
    Silent,
    TooLong,
    TranscriptionFailed,
    Unavailable,
    VoiceOff,
)
from core.voice.transcribe import Transcriber, transcriber_for

KEEP_SECONDS = 24 * 3600.0  # a note not transcribed by then is deleted
_ID_HEX = 16


@dataclass(frozen=True)
class Heard:
    """A note transcribed: its text, how long it was, what it cost."""

    text: str
    seconds: float
    cost_usd: float


@dataclass(frozen=True)
class Kept:
    """A note kept until it is transcribed: who sent it, and the sending adapter's context."""

    id: str
    actor: str
    context: dict[str, str]
    audio: Path


def voice_dir(home: Path) -> Path:
    return home / "voice"


def off_message() -> str:
    return ("Voice notes are off here. To have them transcribed, set [voice] backend = "
            "\"openai\" (with api_key) or \"local\" in Gluon's config and restart it; "
            "until then, type your request.")


class Voice:
    def __init__(self, settings: VoiceSettings, home: Path, usage: Usage | None,
                 transcriber: Transcriber | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``usage`` None: nothing is recorded or rate-limited."""
        self.settings = settings
        self.folder = voice_dir(home)
        self.usage = usage
        self._transcriber = transcriber
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.settings.backend != "off"

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = transcriber_for(self.settings)
        return self._transcriber

    # -- before a download ---------------------------------------------------------------------

    def check(self, size: int | None = None, seconds: float | None = None) -> None:
        """Refuse a note before downloading it: voice off, or announced too big or too long."""
        check_note(self.settings, size, seconds)

    async def check_rate(self, actor: str, retrying: str | None = None) -> None:
        """Refuse a note past ``per_user_per_hour``: those transcribed in the last hour and
        those kept for a retry (but `retrying`, the one being retried) count."""
        if self.usage is None:
            return
        limit = self.settings.per_user_per_hour
        done = await self.usage.voice_notes_since(actor, self.clock() - 3600)
        if done + await asyncio.to_thread(self._kept_for, actor, retrying) >= limit:
            raise RateLimited(f"You sent {limit} voice notes in the last hour, as many as I "
                              "transcribe for one person; type this one, or wait a while.")

    # -- a note ----------------------------------------------------------------------------------

    async def hear(self, actor: str, data: bytes, context: dict[str, str] | None = None,
                   ) -> Heard:
        """Transcribe a note `actor` sent (see the module docstring for the steps)."""
        self.check(len(data))
        await self.check_rate(actor)
        await asyncio.to_thread(self.sweep)
        kept = await asyncio.to_thread(self._keep, actor, data, context or {})
        return await self._transcribe(kept)

    async def retry(self, note_id: str, actor: str) -> tuple[Heard, dict[str, str]]:
        """Transcribe a kept note again (the Retry button); its transcript and context."""
        if not self.enabled:
            raise VoiceOff(off_message())
        kept = await asyncio.to_thread(self.kept, note_id)
        if kept.actor != actor:
            raise InvalidInput("Only the person who sent that voice note can retry it.")
        await self.check_rate(actor, retrying=note_id)
        return await self._transcribe(kept), kept.context

    async def _transcribe(self, kept: Kept) -> Heard:
        try:
            info = await audio.inspect(kept.audio)
            check_note(self.settings, seconds=info.seconds, silent=info.silent)
            text = " ".join((await self.transcriber.transcribe(kept.audio, info)).split())
        except Unavailable as exc:
            raise TranscriptionFailed(str(exc), kept.id) from None
        except Exception:
            await asyncio.to_thread(self.forget, kept.id)
            raise
        await asyncio.to_thread(self.forget, kept.id)
        if not text:
            raise Silent("I heard nothing in that voice note; say it again, closer to the "
                         "microphone, or type it.")
        cost = info.seconds / 60 * self.settings.minute_price
        if self.usage is not None:
            await self.usage.record_voice(kept.actor, self.transcriber.name, info.seconds, cost)
        return Heard(text, info.seconds, cost)

    # -- the kept notes --------------------------------------------------------------------------

    def _keep(self, actor: str, data: bytes, context: dict[str, str]) -> Kept:
        self.folder.mkdir(parents=True, exist_ok=True)
        note_id = secrets.token_hex(_ID_HEX // 2)
        path = self.folder / f"{note_id}.audio"
        path.write_bytes(data)
        path.chmod(0o600)
        (self.folder / f"{note_id}.json").write_text(json.dumps(
            {"actor": actor, "context": context}))
        return Kept(note_id, actor, context, path)

    def kept(self, note_id: str) -> Kept:
        """A kept note; `NotFound` once transcribed or deleted (after a day)."""
        if not (len(note_id) == _ID_HEX and all(c in "0123456789abcdef" for c in note_id)):
            raise NotFound(f"no voice note {note_id!r}")
        path = self.folder / f"{note_id}.audio"
        try:
            meta = json.loads((self.folder / f"{note_id}.json").read_text())
        except (OSError, ValueError):
            meta = None
        if meta is None or not path.is_file():
            raise NotFound("That voice note is no longer kept (notes are deleted once "
                           "transcribed, or after a day); send it again.")
        return Kept(note_id, str(meta["actor"]),
                    {str(k): str(v) for k, v in dict(meta["context"]).items()}, path)

    def _kept_for(self, actor: str, but: str | None) -> int:
        """How many notes of `actor` are kept for a retry (besides `but`)."""
        if not self.folder.is_dir():
            return 0
        count = 0
        for meta in self.folder.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if meta.stem != but and json.loads(meta.read_text())["actor"] == actor:
                    count += 1
        return count

    def forget(self, note_id: str) -> None:
        for suffix in (".audio", ".json"):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / f"{note_id}{suffix}").unlink()

    def sweep(self) -> None:
        """Delete kept notes older than a day."""
        if not self.folder.is_dir():
            return
        old = self.clock() - KEEP_SECONDS
        for path in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < old:
                    path.unlink()

    async def close(self) -> None:
        if self._transcriber is not None:
            await self._transcriber.close()


def check_note(settings: VoiceSettings, size: int | None = None,
               seconds: float | None = None, silent: bool = False) -> None:
    """Refuse a note: voice off, too big, too long or silent (what is known so far)."""
    if settings.backend == "off":
        raise VoiceOff(off_message())
    if size is not None and size > settings.max_bytes:
        raise TooLong(f"That voice note is {_size(size)}; I take notes up to "
                      f"{_size(settings.max_bytes)}. Send a shorter one, or type it.")
    if seconds is not None and seconds > settings.max_seconds:
        raise TooLong(f"That voice note is {_duration(seconds)} long; I take notes up to "
                      f"{_duration(settings.max_seconds)}. Send a shorter one.")
    if silent:
        raise Silent("That voice note is silent; say it again, closer to the microphone, "
                     "or type it.")


async def transcribe_file(settings: VoiceSettings, path: Path) -> Heard:
    """Transcribe a file as a voice note would be (``gluon voice test``): the same checks,
    nothing kept or recorded."""
    check_note(settings, path.stat().st_size)
    transcriber = transcriber_for(settings)
    try:
        info = await audio.inspect(path)
        check_note(settings, seconds=info.seconds, silent=info.silent)
        text = " ".join((await transcriber.transcribe(path, info)).split())
    finally:
        await transcriber.close()
    if not text:
        raise Silent("I heard nothing in that file.")
    return Heard(text, info.seconds, info.seconds / 60 * settings.minute_price)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"
