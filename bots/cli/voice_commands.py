"""``gluon voice test FILE``: transcribe an audio file as a voice note sent in chat would be,
with this machine's ``[voice]`` settings, so a user can check the setup (the backend, its
key, ffmpeg, a grammar). It needs no daemon and records nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bots.cli.output import say
from core.config import Config
from core.errors import InvalidInput

AddCommand = Callable[..., argparse.ArgumentParser]


def add_commands(sub: Any, cmd: AddCommand) -> None:
    voice = sub.add_parser("voice", help="voice notes in chat: check the transcription setup")
    vsub = voice.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("test", "transcribe an audio file as a voice note sent in chat would be", vsub)
    x.add_argument("file", help="an audio file: a voice note (.ogg), .mp3, .wav, ...")


def voice_test(config: Config, args: argparse.Namespace) -> int:
    from core.voice.service import transcribe_file

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise InvalidInput(f"no file {args.file!r}; name an audio file")
    started = time.perf_counter()
    heard = asyncio.run(transcribe_file(config.voice, path))
    took = time.perf_counter() - started
    backend = config.voice.backend
    if args.json:
        print(json.dumps({"text": heard.text, "seconds": round(heard.seconds, 3),
                          "backend": backend, "took_seconds": round(took, 3),
                          "cost_usd": round(heard.cost_usd, 6)}, indent=2))
    else:
        say(heard.text)
        say(f"({heard.seconds:.1f} s of audio, transcribed by the {backend} backend in "
            f"{took:.1f} s, ${heard.cost_usd:.4f})", err=True)
    return 0
