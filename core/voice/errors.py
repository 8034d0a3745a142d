"""What can go wrong with a voice note, each a one-line message a person can act on.

A leaf module. ``Unavailable`` is the transcription backend's (or ffmpeg's) problem, not the
note's: the note is kept and ``TranscriptionFailed`` carries its id, so a Retry can transcribe
it again. Every other error here ends with the note (nothing is kept, nothing runs).
"""

from __future__ import annotations

from core.errors import InvalidInput, UserError


class VoiceOff(UserError):
    """Voice notes are not turned on (``[voice] backend = "off"``)."""


class NotAudio(InvalidInput):
    """The file has no audio that ffmpeg can read."""


class TooLong(InvalidInput):
    """Over ``[voice] max_seconds`` or ``max_bytes``."""


class Silent(InvalidInput):
    """Nothing was said (silence, or an empty transcript)."""


class RateLimited(UserError):
    """Over ``[voice] per_user_per_hour`` notes in the last hour."""


class Unavailable(UserError):
    """The backend is down, refused the key or the audio, or ffmpeg is missing."""


class TranscriptionFailed(UserError):
    """The note could not be transcribed now; it is kept for a retry under ``note_id``."""

    def __init__(self, message: str, note_id: str) -> None:
        super().__init__(message)
        self.note_id = note_id
