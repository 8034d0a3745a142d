"""MCP over this process's stdin and stdout, one JSON-RPC message per line, every line checked.

Used instead of the SDK's ``stdio_server``, which drops a line it cannot decode without an
answer: here such a line gets its error response at once (see :mod:`mcp_tools.jsonrpc`), and a
response that cannot be encoded becomes an error response rather than ending the server.

While serving, fd 0 reads from /dev/null and fd 1 writes to stderr, so a stray ``print`` or a
child process cannot corrupt the wire; both are restored afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from mcp_tools.jsonrpc import Rejected, decode, encode_reply

log = logging.getLogger(__name__)

Incoming = MemoryObjectReceiveStream[SessionMessage | Exception]
Outgoing = MemoryObjectSendStream[SessionMessage]


def _claim_std_streams() -> tuple[BinaryIO, BinaryIO, Callable[[], None]]:
    """Private duplicates of stdin and stdout for the wire, and how to give them back."""
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)

    def restore() -> None:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
        os.close(wire_in)
        os.close(wire_out)

    return (os.fdopen(wire_in, "rb", closefd=False), os.fdopen(wire_out, "wb", closefd=False),
            restore)


async def _lines(file: BinaryIO) -> AsyncIterator[bytes]:
    """The lines of ``file``, read by a daemon thread: a read blocked on a silent client never
    keeps the process from exiting (as a worker thread would)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(16)

    def pump() -> None:
        try:
            for line in iter(file.readline, b""):
                asyncio.run_coroutine_threadsafe(queue.put(line), loop).result()
        except Exception:  # the loop has closed, or the pipe broke: either way, no more lines
            log.debug("stdin reader stopped", exc_info=True)
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    threading.Thread(target=pump, name="mcp-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


@contextlib.asynccontextmanager
async def stdio_streams(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
                        ) -> AsyncIterator[tuple[Incoming, Outgoing]]:
    """The (read, write) streams a ``Server.run`` serves, over stdin/stdout or the given
    binary files."""
    restore: Callable[[], None] | None = None
    if stdin is None or stdout is None:
        stdin, stdout, restore = _claim_std_streams()
    wire_in, wire_out = stdin, stdout
    in_send, in_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    out_send, out_recv = anyio.create_memory_object_stream[SessionMessage](0)
    write_lock = anyio.Lock()

    def write_line(data: bytes) -> None:
        wire_out.write(data + b"\n")
        wire_out.flush()

    async def write(data: bytes) -> None:
        async with write_lock:
            await anyio.to_thread.run_sync(write_line, data)

    async def read_loop() -> None:
        async with in_send:
            async for line in _lines(wire_in):
                line = line.strip()
                if not line:
                    continue
                message = decode(line)
                if isinstance(message, Rejected):
                    await write(message.to_json())
                else:
                    await in_send.send(SessionMessage(message))

    async def write_loop() -> None:
        async with out_recv:
            async for outgoing in out_recv:
                await write(encode_reply(outgoing.message))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_loop)
            tg.start_soon(write_loop)
            try:
                yield in_recv, out_send
            finally:
                tg.cancel_scope.cancel()
    finally:
        if restore is not None:
            restore()
