"""A fake of an OpenAI-compatible transcription service (OpenAI, Groq, faster-whisper-server).

`FakeTranscription` serves `POST /v1/audio/transcriptions` (multipart: `file`, `model`, and
optionally `language`, `prompt`, `response_format`) from uvicorn on 127.0.0.1 in a background
thread; point `[voice] base_url` at `fake.base_url`. It answers `{"text": ...}` with the texts
queued by `say()` in turn (then the last one again), or `""` when none is queued; `response_
format=text` gets the plain text. `fail(status)` answers every request with that error until
`recover()` (401 and 403 as a refused key, others as the service being down), like OpenAI's
error body. With `require_key(key)`, a request without `Authorization: Bearer <key>` is a 401.

Every request is recorded in `requests` (headers, form fields, the uploaded file's name,
content type and bytes), so a test checks what really arrived. `wait_for(predicate)` waits
without sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer, wait_until

__all__ = ["FakeTranscription", "Upload"]


@dataclass(frozen=True)
class Upload:
    """One request as the fake received it."""

    authorization: str | None
    fields: dict[str, str]
    filename: str | None
    content_type: str | None
    data: bytes
    status: int  # what the fake answered


class FakeTranscription:
    def __init__(self) -> None:
        self.requests: list[Upload] = []
        self._texts: list[str] = []
        self._failing: int | None = None
        self._key: str | None = None
        self._cond = threading.Condition()
        self._listeners: list[Callable[[], None]] = []
        self.app = Starlette(routes=[
            Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"]),
        ], lifespan=self._lifespan)
        self._http = ThreadedServer(self.app, "fake-transcription")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        if self._http.running:
            self._http.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._http.ready()
        yield

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/v1"

    # -- test side ---------------------------------------------------------------------------

    def say(self, *texts: str) -> None:
        """Queue the transcripts of the next requests, in order."""
        with self._cond:
            self._texts.extend(texts)

    def fail(self, status: int) -> None:
        """Answer every request with `status` until `recover()`."""
        with self._cond:
            self._failing = status

    def recover(self) -> None:
        with self._cond:
            self._failing = None

    def require_key(self, key: str) -> None:
        with self._cond:
            self._key = key

    async def wait_for(self, predicate: Callable[[FakeTranscription], bool],
                       timeout: float = 10) -> None:  # noqa: ASYNC109
        await wait_until(self._cond, self._listeners, lambda: predicate(self),
                         lambda: f"the fake got {len(self.requests)} request(s)", timeout)

    # -- HTTP --------------------------------------------------------------------------------

    async def _transcribe(self, request: Request) -> Response:
        fields: dict[str, str] = {}
        filename = content_type = None
        data = b""
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    filename, content_type = value.filename, value.content_type
                    data = await value.read()
                else:
                    fields[key] = value
        auth = request.headers.get("authorization")
        with self._cond:
            status = self._failing or 200
            if self._key is not None and auth != f"Bearer {self._key}":
                status = 401
            if status == 200 and (not data or "model" not in fields):
                status = 400
            text = (self._texts.pop(0) if len(self._texts) > 1 else
                    self._texts[0] if self._texts else "") if status == 200 else ""
            self.requests.append(Upload(auth, fields, filename, content_type, data, status))
            for notify in self._listeners:
                notify()
        if status != 200:
            kind = "invalid_api_key" if status in (401, 403) else "server_error"
            message = {401: "Incorrect API key provided.", 400: "Could not parse the file.",
                       403: "Forbidden."}.get(status, "The server is overloaded.")
            return JSONResponse({"error": {"message": message, "type": kind, "code": kind}},
                                status_code=status)
        if fields.get("response_format") == "text":
            return PlainTextResponse(text)
        return JSONResponse({"text": text})
