"""A scripted fake of the Anthropic Messages API, for the real Claude Code CLI and `anthropic`.

The server runs uvicorn on 127.0.0.1 in a thread with its own event loop, so sync code, async
tests and subprocesses (over TCP) can all reach it. Point a CLI at it with
`ClaudeAgentOptions(env=server.agent_env(home))`, register scripts with `server.script(key,
steps)` and put the key in the prompt:

    server.script("SCRIPT:write-hello", [write("hello.txt", "hi"), text("Wrote it.")])
    await client.query("SCRIPT:write-hello please")

The last prompt with a key picks the script and the assistant turns since then pick the step
(see `tests.fakes.transcript`). Past the last step the model says "done"; without any key it
says "ok". A Claude Code request without tools (a session title, sent only when nonessential
traffic is allowed) gets "ok" and never counts as a step.

Served: `POST /v1/messages` (`stream` true: SSE; false: JSON; `?beta=true` accepted),
`POST /v1/messages/count_tokens`. Anything else gets a 404 error and lands in `unhandled`.
Any key is accepted unless `server.require_api_key(key)` was called: then a request without
that key (`x-api-key`, or `Authorization: Bearer`) gets the API's 401 `authentication_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from types import TracebackType
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.scripts import (
    ErrorStep,
    HoldStep,
    LimitStep,
    Step,
    TextStep,
    ask,
    bash,
    error,
    hold,
    slow_text,
    text,
    tool,
    usage_limit,
    write,
)
from tests.fakes.threaded import ThreadedServer
from tests.fakes.transcript import (
    RecordedRequest,
    is_cli_side_request,
    select_step,
    session_id_of,
)
from tests.fakes.wire import error_body, estimate_tokens, message_json, stream_events

__all__ = [
    "RecordedRequest",
    "ScriptedModelServer",
    "Step",
    "ask",
    "bash",
    "error",
    "hold",
    "select_step",
    "slow_text",
    "text",
    "tool",
    "usage_limit",
    "write",
]

log = logging.getLogger(__name__)

Predicate = Callable[[RecordedRequest], bool]
_AsyncWaiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[RecordedRequest]", Predicate]


class ScriptedModelServer:
    """Starlette app served by uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []  # "METHOD /path" of requests answered 404
        self._scripts: dict[str, tuple[Step, ...]] = {}
        self.resets: list[float] = []  # the resets of `usage_limit(resets_in=...)` steps
        self._resets: dict[int, float] = {}
        self._cond = threading.Condition()
        self._async_waiters: list[_AsyncWaiter] = []
        self._released: set[str] = set()
        self._holds: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._open_streams = 0
        self._api_key: str | None = None
        self.refused_keys = 0  # requests answered 401 for a wrong or missing key
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "DELETE"]),
            ],
            lifespan=self._lifespan,
        )
        self._http = ThreadedServer(self.app, "model-server")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving; returns once the port is listening and the app has started."""
        self._http.start()
        if self._loop is None:
            raise RuntimeError("scripted model server did not start")

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._http.ready()
        yield

    def stop(self) -> None:
        """Stop serving and release every hold. Safe to call twice."""
        if self._stopped or not self._http.running:
            self._stopped = True
            return
        self._stopped = True
        with self._cond:
            held = list(self._holds)
        for name in held:
            self.release(name)
        self._http.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def agent_env(self, home: str) -> dict[str, str]:
        """The environment a Claude Code CLI needs to run offline against this server.

        The SDK merges it over `os.environ`, so variables such as CLAUDE_CONFIG_DIR or
        IS_SANDBOX in the test process still reach the CLI.
        """
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": "sk-test",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "HOME": home,
        }

    # -- scripting -------------------------------------------------------------------------

    def script(self, key: str, steps: Sequence[Step]) -> None:
        """Register `steps` for prompts that contain `key` (e.g. "SCRIPT:write-hello")."""
        with self._cond:
            self._scripts[key] = tuple(steps)

    def require_api_key(self, key: str) -> None:
        """From now on answer 401, as the real API does, to a request without ``key``."""
        with self._cond:
            self._api_key = key

    def _refused(self, request: Request) -> Response | None:
        """The 401 answer to a request without the required key, if one is required."""
        with self._cond:
            expected = self._api_key
        if expected is None:
            return None
        given = request.headers.get("x-api-key") or request.headers.get(
            "authorization", "").removeprefix("Bearer ")
        if given == expected:
            return None
        with self._cond:
            self.refused_keys += 1
        body = {"type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
        return JSONResponse(body, status_code=401, headers={"x-should-retry": "false"})

    def release(self, name: str) -> None:
        """Let every request held by `hold(name)` (now or later) be answered."""
        with self._cond:
            self._released.add(name)
            event = self._holds.get(name)
        if event is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(event.set)

    async def _wait_released(self, name: str) -> None:
        with self._cond:
            if name in self._released:
                return
            event = self._holds.setdefault(name, asyncio.Event())
        await event.wait()

    # -- waiting for requests --------------------------------------------------------------

    def wait_for_request(self, predicate: Predicate, timeout: float = 30) -> RecordedRequest:
        """The first recorded request (past or future) matching `predicate`."""
        found: list[RecordedRequest] = []

        def match() -> bool:
            found[:] = [r for r in self.requests if predicate(r)][:1]
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(match, timeout=timeout):
                raise TimeoutError(f"no matching request in {timeout}s ({len(self.requests)} seen)")
        return found[0]

    async def await_request(
        self,
        predicate: Predicate,
        timeout: float = 30,  # noqa: ASYNC109 - mirrors wait_for_request for callers
    ) -> RecordedRequest:
        """Async `wait_for_request`; does not block the calling event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RecordedRequest] = loop.create_future()
        with self._cond:
            for recorded in self.requests:
                if predicate(recorded):
                    return recorded
            waiter = (loop, future, predicate)
            self._async_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(
                f"no matching request in {timeout}s ({len(self.requests)} seen)"
            ) from None
        finally:
            with self._cond:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    def _record(self, recorded: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(recorded)
            self._cond.notify_all()
            waiters = [w for w in self._async_waiters if _matches(w[2], recorded)]
            for w in waiters:
                self._async_waiters.remove(w)
        for loop, future, _ in waiters:
            with contextlib.suppress(RuntimeError):  # the waiting loop has closed meanwhile
                loop.call_soon_threadsafe(_resolve, future, recorded)

    # -- HTTP handlers ---------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        if not isinstance(body, dict):
            return _error_response(ErrorStep(400, "body must be a JSON object"))
        with self._cond:
            scripts = dict(self._scripts)
        key, index = select_step(body, list(scripts))
        step: Step = TextStep("ok")
        if is_cli_side_request(body):
            key, index = None, -1
        elif key is not None:
            steps = scripts[key]
            step = steps[index] if index < len(steps) else TextStep("done")
        self._record(RecordedRequest(body, key, index, session_id_of(body), dict(request.headers)))
        log.debug("messages request: key=%r step=%d -> %r", key, index, step)
        stream = bool(body.get("stream"))
        model = str(body.get("model", "claude-fake"))
        input_tokens = estimate_tokens(json.dumps(body.get("messages", [])))
        while isinstance(step, HoldStep | LimitStep):
            if isinstance(step, LimitStep):
                step = self._reset_fixed(step)
                if time.time() < step.resets_at:
                    return _error_response(step.refusal())
            elif not await self._hold(step.name, request):
                return Response(status_code=499)  # the client left; nobody reads this
            step = step.then
        if isinstance(step, ErrorStep):
            return _error_response(step)
        if stream:
            return StreamingResponse(
                self._tracked(stream_events(step, model, input_tokens)),
                media_type="text/event-stream",
            )
        return JSONResponse(message_json(step, model, input_tokens))

    def _reset_fixed(self, step: LimitStep) -> LimitStep:
        """A step whose reset is relative, with its reset fixed at its first refusal."""
        if step.resets_in is None:
            return step
        with self._cond:
            if id(step) not in self._resets:
                self._resets[id(step)] = time.time() + step.resets_in
                self.resets.append(self._resets[id(step)])
            return replace(step, resets_at=self._resets[id(step)], resets_in=None)

    async def _hold(self, name: str, request: Request) -> bool:
        """Wait for `release(name)`; False if the client disconnected first."""
        released = asyncio.ensure_future(self._wait_released(name))
        # The body has been read, so the next ASGI message can only be the disconnect.
        gone = asyncio.ensure_future(request.receive())
        try:
            await asyncio.wait([released, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            gone.cancel()
        return released.done() and not released.cancelled()

    async def _tracked(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """`chunks`, counted in `open_streams` until they end or the client disconnects."""
        with self._cond:
            self._open_streams += 1
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            with self._cond:
                self._open_streams -= 1
                self._cond.notify_all()

    @property
    def open_streams(self) -> int:
        """How many SSE responses are being sent right now."""
        return self._open_streams

    def wait_streams_closed(self, timeout: float = 10) -> None:
        """Block until no SSE response is open (e.g. after a client interrupted one)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._open_streams == 0, timeout=timeout):
                raise TimeoutError(f"{self._open_streams} stream(s) still open after {timeout}s")

    async def _count_tokens(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.body()
        return JSONResponse({"input_tokens": estimate_tokens(body.decode(errors="replace"))})

    async def _not_found(self, request: Request) -> Response:
        what = f"{request.method} {request.url.path}"
        log.warning("scripted model server: unhandled %s", what)
        with self._cond:
            self.unhandled.append(what)
        return JSONResponse(
            {"type": "error", "error": {"type": "not_found_error", "message": f"no route {what}"}},
            status_code=404,
        )


def _matches(predicate: Predicate, recorded: RecordedRequest) -> bool:
    """`predicate(recorded)`; a predicate that raises is logged and does not match."""
    try:
        return predicate(recorded)
    except Exception:
        log.exception("request predicate failed")
        return False


def _resolve(future: asyncio.Future[RecordedRequest], recorded: RecordedRequest) -> None:
    if not future.done():
        future.set_result(recorded)


def _error_response(step: ErrorStep) -> Response:
    # x-should-retry: false makes the CLI and `anthropic` fail at once even on 429/5xx/529.
    headers = {"x-should-retry": "false", **dict(step.headers)}
    return JSONResponse(error_body(step), status_code=step.status, headers=headers)
