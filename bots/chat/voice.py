"""Voice notes in chat, whatever the platform: a note from an allowed person is transcribed
(``core.voice``) and then handled exactly as if they had typed the transcript, which the
chat shows first ("🎙 fix the login test in api").

The platform adapter checks access before calling :func:`transcript`, which refuses what it
can before the download (voice off, too big or too long as announced, too many notes this
hour), then downloads and transcribes. What goes wrong is one line; when the transcription
service failed, the line has a **Retry** button (:func:`again`), which transcribes the kept
note once more and hands back where it was said, to route it as the first time would have.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bots.chat.types import Button, Outcome, Reply, Retranscribe, Speaker
from core.errors import NotFound, UserError
from core.runtime import Runtime
from core.voice.errors import TranscriptionFailed

log = logging.getLogger(__name__)

ICON = "🎙"


def heard(text: str) -> Reply:
    """The transcript, shown before Gluon acts on it."""
    return Reply(f"{ICON} {text}")


def failed(exc: UserError) -> Reply:
    """Why a note came to nothing, in one line; with Retry when it is kept for one."""
    buttons = [[Button("Retry", Retranscribe(exc.note_id))]] \
        if isinstance(exc, TranscriptionFailed) else []
    return Reply(f"{ICON} {exc}", buttons, error=True)


async def transcript(runtime: Runtime, speaker: Speaker, download: Callable[[], Awaitable[bytes]],
                     *, size: int | None, seconds: float | None,
                     context: dict[str, str]) -> str | Reply:
    """The words of a note `speaker` sent, or the reply saying why there are none.
    ``download`` fetches its bytes (called only once the note may be transcribed);
    ``context``: where it was said, kept with the note for a retry."""
    voice = runtime.voice
    try:
        voice.check(size, seconds)
        await voice.check_rate(speaker.actor)
        data = await download()
        return (await voice.hear(speaker.actor, data, context)).text
    except UserError as exc:
        if isinstance(exc, TranscriptionFailed):
            log.warning("voice note of %s not transcribed: %s", speaker.actor, exc)
        return failed(exc)


async def again(runtime: Runtime, speaker: Speaker,
                note_id: str) -> tuple[str, dict[str, str]] | Outcome:
    """A Retry: the kept note's words and where it was said, or what the press did instead:
    settled (its button can go) once the note is no longer kept, not when it failed again or
    is not theirs to retry."""
    try:
        said, context = await runtime.voice.retry(note_id, speaker.actor)
    except NotFound as exc:
        return Outcome(str(exc), True)
    except UserError as exc:
        if isinstance(exc, TranscriptionFailed):
            log.warning("voice note of %s not transcribed again: %s", speaker.actor, exc)
        return Outcome(str(exc), False)
    return said.text, context
