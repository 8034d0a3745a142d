"""Redis connections that never lose a cancellation.

On Python 3.11, ``asyncio.wait_for`` returns its awaitable's result instead of raising when
the task awaiting it is cancelled just as that awaitable completes (CPython issue 86296,
fixed in 3.12 by building ``wait_for`` on ``asyncio.timeout``). redis-py writes every command
through ``wait_for`` when the client has a socket timeout, so a task cancelled while it sends
a command went on as if it had not been: a worker's heartbeat or a relay's loop kept going,
and whatever stopped it waited for ever. These connections bound the write with
``asyncio.timeout`` instead, which keeps the cancellation, and raise what redis-py raises when
a write times out.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError


class _TimedWrites:
    """Mixed into a redis-py connection class: its writes time out through
    ``asyncio.timeout``."""

    socket_timeout: float | None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        timeout = self.socket_timeout
        if not timeout:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        # Without a socket timeout redis-py writes without wait_for; the whole send,
        # with the health check it may make first, is bounded here instead.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError:
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout


class Connection(_TimedWrites, aioredis.Connection):
    """A ``redis://`` connection."""


class SSLConnection(_TimedWrites, aioredis.SSLConnection):
    """A ``rediss://`` connection."""


def connection_class(url: str) -> dict[str, Any]:
    """The ``connection_class`` argument for a client of ``url``: none where redis-py's own
    is right (Python 3.12 and later, and ``unix://`` sockets)."""
    if sys.version_info >= (3, 12):
        return {}
    scheme = urlsplit(url).scheme
    if scheme == "redis":
        return {"connection_class": Connection}
    if scheme == "rediss":
        return {"connection_class": SSLConnection}
    return {}
