"""``GET/POST /git/<project>.git/...``: the coordinator's repositories over git's smart HTTP,
for ``gluon worker`` hosts (what is served and to whom: :mod:`core.cluster.transfer.served`).

A CGI bridge: each request runs ``git http-backend`` with the request body streamed to its
stdin and its stdout (CGI headers, then the body) streamed back. A push is read up to the end
of its ref updates first: one that touches any ref but a run's branch is answered with git's
own refusal (``! [remote rejected]``) and its pack is never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncGenerator, AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from core.cluster.transfer.pushes import MalformedPush, read_commands, refusal, refused
from core.cluster.transfer.served import SERVICES, ServedRepos
from core.cluster.transfer.source import TOKEN_HEADER
from core.errors import NotFound

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
HEADERS_MAX = 16 * 1024  # the CGI headers http-backend writes before its body


def git_routes(repos: ServedRepos) -> list[BaseRoute]:
    async def serve(request: Request) -> Response:
        if not repos.on:
            return PlainTextResponse("this Gluon serves no git repositories: [cluster] token "
                                     "is not set\n", status_code=404)
        if not repos.authorized(request.headers.get(TOKEN_HEADER)):
            log.warning("git request for %s without the right cluster token, from %s",
                        request.url.path, request.client.host if request.client else "?")
            return PlainTextResponse("the Gluon cluster token is missing or wrong; set "
                                     "GLUON_CLUSTER_TOKEN as on the coordinator\n",
                                     status_code=403)
        service = request.path_params["service"]
        if (request.method, service) not in SERVICES:
            return PlainTextResponse("only git's smart HTTP protocol is served here\n",
                                     status_code=404)
        try:
            git_dir = await repos.git_dir(request.path_params["project"])
        except NotFound as exc:
            return PlainTextResponse(f"{exc}\n", status_code=404)
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = _body(request)
        if service == "git-receive-pack":
            if headers.get("content-encoding") == "gzip":
                body = _gunzip(body)
                headers.pop("content-encoding")
            try:
                start, refusing = await _push_start(body)
            except MalformedPush as exc:
                return PlainTextResponse(f"not a git push: {exc}\n", status_code=400)
            if refusing is not None:
                return refusing
            body = _prepend(start, body)
        env = repos.cgi_environment(git_dir, request.method, service, request.url.query,
                                    headers, request.client.host if request.client else "")
        return await _run_backend(env, body)

    return [Route("/git/{project:str}.git/{service:path}", serve, methods=["GET", "POST"])]


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


async def _gunzip(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    async for chunk in body:
        yield inflate.decompress(chunk)
    yield inflate.flush()


async def _prepend(start: bytes, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield start
    async for chunk in body:
        yield chunk


async def _push_start(body: AsyncIterator[bytes]) -> tuple[bytes, Response | None]:
    """The bytes read up to the end of the push's ref updates, and the refusal to answer
    with (None: the push may go on)."""
    start = b""
    commands = None
    async for chunk in body:
        start += chunk
        commands = read_commands(start)
        if commands is not None:
            break
    if commands is None:
        raise MalformedPush("the request ended before its ref updates did")
    reasons = refused(commands.updates)
    if not reasons:
        return start, None
    log.warning("refused a worker's push to %s", ", ".join(sorted(reasons)))
    async for _ in body:  # the client sends its pack before it reads the answer
        pass
    return start, Response(refusal(reasons, commands.capabilities),
                           media_type="application/x-git-receive-pack-result",
                           headers={"Cache-Control": "no-cache"})


async def _run_backend(env: dict[str, str], body: AsyncIterator[bytes]) -> Response:
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    feeding = asyncio.create_task(_feed(proc.stdin, body), name="git-http-request")
    errors = asyncio.create_task(proc.stderr.read(), name="git-http-stderr")
    try:
        status, headers, rest = await _cgi_headers(proc.stdout)
    except BaseException:
        await _finish(proc, feeding, errors, complete=False)
        raise

    async def content() -> AsyncIterator[bytes]:
        complete = False
        try:
            if rest:
                yield rest
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(CHUNK):
                yield chunk
            complete = True
        finally:
            await _finish(proc, feeding, errors, complete=complete)

    media = headers.pop("content-type", None)
    return _Streamed(content(), status_code=status, headers=headers, media_type=media)


class _Streamed(StreamingResponse):
    """A streamed answer that leaves the request's messages alone: the request body may
    still be on its way to http-backend (Starlette's own would wait for a disconnect on the
    same channel, and could take the body's last message from it)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body_iterator
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if isinstance(body, AsyncGenerator):
                await body.aclose()


async def _feed(stdin: asyncio.StreamWriter, body: AsyncIterator[bytes]) -> None:
    try:
        async for chunk in body:
            stdin.write(chunk)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # http-backend stopped reading: its answer says why
    finally:
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()


async def _cgi_headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and the first bytes of the body http-backend wrote."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        chunk = await stdout.read(CHUNK)
        if not chunk or len(data) > HEADERS_MAX:
            raise RuntimeError("git http-backend ended without an answer")
        data += chunk
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    end, sep = (crlf, 4) if crlf != -1 and (lf == -1 or crlf < lf) else (lf, 2)
    status, headers = 200, {}
    for line in data[:end].decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            status = int(value.split()[0])
        elif name.strip():
            headers[name.strip().lower()] = value.strip()
    return status, headers, data[end + sep:]


async def _finish(proc: asyncio.subprocess.Process, feeding: asyncio.Task[None],
                  errors: asyncio.Task[bytes], *, complete: bool) -> None:
    """Reap http-backend (killed when its answer was not read to the end: the client left)
    and log what it said."""
    if not complete and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await proc.wait()
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    feeding.cancel()
    with contextlib.suppress(BaseException):
        await feeding
    stderr = b""
    with contextlib.suppress(BaseException):
        stderr = await errors
    if not complete:
        log.info("a worker left before git http-backend had answered it")
    elif proc.returncode != 0 or stderr.strip():
        log.warning("git http-backend exited with %s: %s", proc.returncode,
                    stderr.decode(errors="replace").strip()[:500])
