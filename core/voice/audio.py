"""Audio files through ffmpeg: what a file holds (format, length, loudness) and its
conversion to the 16 kHz mono 16-bit PCM the local engine reads.

ffprobe and ffmpeg run as subprocesses (asyncio, with a timeout; a process that overruns it is
killed). A file they cannot read as audio is :class:`NotAudio`; ffmpeg missing on the machine
is :class:`Unavailable` (the note is kept, so a Retry works once ffmpeg is installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.voice.errors import NotAudio, Unavailable

TOOLS = ("ffmpeg", "ffprobe")
TIMEOUT = 120.0  # seconds for one ffmpeg or ffprobe process
SILENCE_DB = -50.0  # a note whose loudest sample is quieter than this holds no speech
RATE = 16_000  # samples per second for the local engine
_MAX_VOLUME = re.compile(r"max_volume:\s*(-?[\d.]+|-inf) dB")
_SAMPLES = re.compile(r"n_samples:\s*(\d+)")


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe and a volume pass found in a file."""

    format: str  # ffprobe's format name: "ogg", "mp3", "wav", "mov,mp4,m4a,3gp,3g2,mj2", ...
    codec: str  # of the first audio stream: "opus", "mp3", "pcm_s16le", ...
    seconds: float
    peak_db: float  # the loudest sample, in dB below full scale

    @property
    def silent(self) -> bool:
        return self.peak_db < SILENCE_DB


def missing_tools(path: str | None = None) -> list[str]:
    """The ffmpeg programs not found on `path` (default: PATH)."""
    return [tool for tool in TOOLS if shutil.which(tool, path=path) is None]


async def _run(*args: str) -> tuple[int, bytes, bytes]:
    """Run one ffmpeg program; (exit status, stdout, stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise Unavailable(f"voice notes need {args[0]} on the machine running Gluon; install "
                          "it (apt-get install ffmpeg, brew install ffmpeg)") from None
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise Unavailable(f"{args[0]} took over {TIMEOUT:.0f} s on a voice note; try "
                          "again") from None
    return proc.returncode or 0, out, err


async def inspect(path: Path) -> AudioInfo:
    """The file's format, first audio stream, length and peak level; `NotAudio` when it has
    no audio ffmpeg can decode."""
    code, out, _ = await _run("ffprobe", "-v", "error", "-print_format", "json",
                              "-show_entries",
                              "format=format_name,duration:stream=codec_type,codec_name,"
                              "sample_rate,channels", str(path))
    try:
        found = json.loads(out) if code == 0 else {}
    except ValueError:
        found = {}
    streams = [s for s in found.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise NotAudio("That is not audio I can read; send a voice note or an audio file.")
    stream, fmt = streams[0], found.get("format", {})
    code, _, err = await _run("ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map",
                              "0:a:0", "-af", "volumedetect", "-f", "null", "-")
    peak = _MAX_VOLUME.search(err.decode(errors="replace"))
    if code != 0 or peak is None:
        raise NotAudio("That audio is damaged or empty; record it again.")
    seconds = _float(fmt.get("duration"))
    if seconds is None:  # some streams do not say; count the samples decoded instead
        samples = _SAMPLES.search(err.decode(errors="replace"))
        rate = (_float(stream.get("sample_rate")) or 0) * (stream.get("channels") or 1)
        seconds = int(samples.group(1)) / rate if samples and rate else 0.0
    return AudioInfo(format=str(fmt.get("format_name", "")),
                     codec=str(stream.get("codec_name", "")), seconds=seconds,
                     peak_db=float("-inf") if peak.group(1) == "-inf" else float(peak.group(1)))


async def to_pcm(path: Path) -> bytes:
    """The first audio stream as 16 kHz mono signed 16-bit little-endian samples."""
    return await _convert(path, "-f", "s16le")


async def to_wav(path: Path) -> bytes:
    """The first audio stream as a 16 kHz mono 16-bit WAV file."""
    return await _convert(path, "-f", "wav")


async def _convert(path: Path, *output: str) -> bytes:
    code, out, _ = await _run("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error",
                              "-i", str(path), "-map", "0:a:0", "-ar", str(RATE), "-ac", "1",
                              "-c:a", "pcm_s16le", *output, "-")
    if code != 0:
        raise NotAudio("That audio is damaged or empty; record it again.")
    return out


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None
