"""Voice notes: transcribed and handled as if typed (ffmpeg, and an OpenAI-compatible
transcription service or pocketsphinx on this machine).

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.voice.audio import AudioInfo as AudioInfo
    from core.voice.errors import TranscriptionFailed as TranscriptionFailed
    from core.voice.errors import Unavailable as Unavailable
    from core.voice.errors import VoiceOff as VoiceOff
    from core.voice.service import Heard as Heard
    from core.voice.service import Voice as Voice
    from core.voice.service import transcribe_file as transcribe_file
    from core.voice.transcribe import Transcriber as Transcriber

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "AudioInfo": "audio",
    "TranscriptionFailed": "errors",
    "Unavailable": "errors",
    "VoiceOff": "errors",
    "Heard": "service",
    "Voice": "service",
    "transcribe_file": "service",
    "Transcriber": "transcribe",
})
