"""How long a voice note takes to become text, per second of audio, with both backends.

    uv run python bench/voice.py [--repeat 5] [--lengths 2,5,10,20]

Makes real speech of about each length (espeak-ng, encoded by ffmpeg as Telegram sends voice
notes: Ogg/Opus 48 kHz mono) and runs each clip `--repeat` times through the whole path a note
takes in chat (`Voice.hear`: kept on disk, read by ffprobe and ffmpeg, transcribed, deleted):

- openai: against a local fake OpenAI-compatible service that answers at once, so the figure
  is Gluon's own overhead (ffmpeg and the upload), not a real service's transcription time;
- local: pocketsphinx with a grammar of the spoken phrases (as the tests use it), and without
  (open dictation, the two shortest clips only); its one-time load (time and memory) is
  printed apart.

Prints p50 and p90 of the latency per clip length, and the ratio of the p50 to the audio's
length (the real-time factor: under 1 is faster than the speaker).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import VoiceSettings  # noqa: E402
from core.voice.audio import inspect  # noqa: E402
from core.voice.service import Voice  # noqa: E402
from tests.fakes.transcription import FakeTranscription  # noqa: E402
from tests.speech import voice_note  # noqa: E402

PHRASES = ["fix the login test in api", "merge the pull request", "run the tests on the web app",
           "deploy the status page", "close the old branches"]


def script(seconds: float) -> str:
    """Words that espeak-ng says in about `seconds` (it says about 2.3 words a second)."""
    words: list[str] = []
    while len(words) < seconds * 2.3:
        words += PHRASES[len(words) % len(PHRASES)].split()
    return " ".join(words)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(len(ordered) * q)) - 1)]


async def measure(voice: Voice, clips: list[tuple[bytes, float]], repeat: int,
                  name: str) -> None:
    for data, seconds in clips:
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            await voice.hear("bench", data)
            samples.append(time.perf_counter() - started)
        p50 = statistics.median(samples)
        print(f"{name:<22} {seconds:5.1f} s of audio  p50={p50 * 1000:7.0f} ms  "
              f"p90={percentile(samples, 0.9) * 1000:7.0f} ms  "
              f"per audio second={p50 / seconds * 1000:5.0f} ms  ratio={p50 / seconds:5.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lengths", default="2,5,10,20",
                        help="about how many seconds of speech each clip holds")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gluon-bench-voice-"))
    clips = []
    for length in (float(x) for x in args.lengths.split(",")):
        data = voice_note(script(length))
        path = home / "probe.ogg"
        path.write_bytes(data)
        clips.append((data, (await inspect(path)).seconds))
    print(f"{len(clips)} clips, {args.repeat} times each\n")

    with FakeTranscription() as fake:
        fake.say("transcribed")
        voice = Voice(VoiceSettings(backend="openai", base_url=fake.base_url), home, None)
        await measure(voice, clips, args.repeat, "openai (fake service)")
        await voice.close()

    grammar = [script(length) for length in (float(x) for x in args.lengths.split(","))]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    voice = Voice(VoiceSettings(backend="local", grammar=grammar), home, None)
    started = time.perf_counter()
    await voice.hear("bench", clips[0][0])
    first = time.perf_counter() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    print(f"\nlocal first note (loads the model): {first:.2f} s, peak memory +{grown:.0f} MB")
    await measure(voice, clips, args.repeat, "local with grammar")
    await voice.close()
    voice = Voice(VoiceSettings(backend="local"), home, None)
    await voice.hear("bench", clips[0][0])
    await measure(voice, clips[:2], args.repeat, "local, open dictation")  # slow: two lengths
    await voice.close()


if __name__ == "__main__":
    asyncio.run(main())
