"""Real speech for the voice tests: espeak-ng says a text, ffmpeg encodes it as Telegram and
Discord send voice notes (Ogg/Opus, 48 kHz mono, ~32 kb/s). Each clip is made once per
process and kept in a temporary folder."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

_cache: Path | None = None


def _folder() -> Path:
    global _cache
    if _cache is None:
        _cache = Path(tempfile.mkdtemp(prefix="gluon-speech-"))
        atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    return _cache


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=60)


def voice_note(text: str) -> bytes:
    """`text` spoken, as an Ogg/Opus voice note."""
    out = _folder() / f"say-{hashlib.sha256(text.encode()).hexdigest()[:16]}.ogg"
    if not out.exists():
        wav = out.with_suffix(".wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), text],
                       check=True, timeout=60)
        _ffmpeg("-i", str(wav), "-c:a", "libopus", "-b:a", "32k", "-ar", "48000", "-ac", "1",
                "-application", "voip", str(out))
    return out.read_bytes()


def silence(seconds: float = 1.5) -> bytes:
    """A voice note of nothing but silence."""
    out = _folder() / f"silence-{seconds}.ogg"
    if not out.exists():
        _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", str(seconds),
                "-c:a", "libopus", "-b:a", "32k", str(out))
    return out.read_bytes()


def tone(seconds: float, fmt: str = "ogg") -> bytes:
    """A loud tone of `seconds` (not speech, but audio), in the container `fmt` (ogg: Opus)."""
    out = _folder() / f"tone-{seconds}.{fmt}"
    if not out.exists():
        codec = ["-c:a", "libopus", "-b:a", "32k"] if fmt == "ogg" else []
        _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                *codec, str(out))
    return out.read_bytes()


def ogg_seconds(data: bytes) -> float:
    """The length of an Ogg file as ffprobe reads it (from bytes a fake received)."""
    with tempfile.NamedTemporaryFile(suffix=".ogg") as f:  # from a pipe it cannot seek: N/A
        f.write(data)
        f.flush()
        done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                               "-of", "default=nw=1:nk=1", f.name], capture_output=True,
                              check=True, timeout=60)
    return float(done.stdout)
