"""A fake OpenAI-compatible speech endpoint: ``POST /v1/audio/speech`` answers a real OGG/Opus
clip (a short tone made once per process with ffmpeg), as OpenAI, Groq or a local
speaches/Kokoro server would for ``response_format=opus``.

Like those it wants a JSON body with ``model``, ``voice`` and ``input`` (400 otherwise) and a
bearer key when it was given one (401 otherwise). Tests read what it was asked (``requests``)
and can make it fail (``fail_with``). Serve it with ``with FakeSpeech() as fake``; point Gluon
at ``fake.base_url``.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer

__all__ = ["FakeSpeech", "SpeechRequest", "opus_clip"]


@functools.cache
def opus_clip() -> bytes:
    """Half a second of a 440 Hz tone as OGG/Opus, 48 kHz mono (what Telegram plays as a
    voice note), made with ffmpeg."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tone.ogg"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=440:duration=0.5", "-c:a", "libopus", "-b:a", "32k",
                        "-ar", "48000", "-ac", "1", str(out)], check=True, timeout=60)
        return out.read_bytes()


@dataclass(frozen=True)
class SpeechRequest:
    body: dict[str, Any]
    authorization: str | None


class FakeSpeech:
    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.requests: list[SpeechRequest] = []
        self._status: int | None = None
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/audio/speech", self._speech, methods=["POST"])],
                             lifespan=self._lifespan)
        self._server = ThreadedServer(self.app, "fake-speech")

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._server.ready()
        yield

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/v1"

    def fail_with(self, status: int | None) -> None:
        """Answer every request with this HTTP error from now on (None: answer again)."""
        with self._lock:
            self._status = status

    def __enter__(self) -> Self:
        opus_clip()
        self._server.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.stop()

    async def _speech(self, request: Request) -> Response:
        auth = request.headers.get("authorization")
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(SpeechRequest(body if isinstance(body, dict) else {}, auth))
            status = self._status
        if status is not None:
            return JSONResponse({"error": {"message": "scripted failure"}}, status_code=status)
        if self.key is not None and auth != f"Bearer {self.key}":
            return JSONResponse({"error": {"message": "Incorrect API key"}}, status_code=401)
        if not isinstance(body, dict) or not all(
                isinstance(body.get(k), str) and body[k] for k in ("model", "voice", "input")):
            return JSONResponse({"error": {"message": "model, voice and input are required"}},
                                status_code=400)
        return Response(opus_clip(), media_type="audio/ogg")
