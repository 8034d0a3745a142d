"""Ordered, patient delivery to Telegram: one queue and worker per chat.

Messages to a chat go out in the order they were queued. A 429 is waited out for exactly the
``retry_after`` Telegram gives; network errors are retried with backoff; "message is not
modified" counts as done. Nothing is dropped, even when whoever queued a message stopped
waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)

MAX_NETWORK_RETRIES = 8

Op = Callable[[], Awaitable[Any]]


def _seconds(retry_after: int | timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after


class Outbox:
    """Per-chat ordered delivery: one worker per chat runs the sends in order."""

    def __init__(self) -> None:
        self._queues: dict[int, asyncio.Queue[tuple[Op, asyncio.Future[Any]]]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    async def do(self, chat_id: int, op: Op) -> Any:
        queue = self._queues.get(chat_id)
        if queue is None:
            queue = self._queues[chat_id] = asyncio.Queue()
            task = asyncio.create_task(self._work(queue), name=f"telegram-outbox-{chat_id}")
            self._workers.add(task)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await queue.put((op, future))
        return await future

    async def _work(self, queue: asyncio.Queue[tuple[Op, asyncio.Future[Any]]]) -> None:
        while True:
            op, future = await queue.get()
            failures = 0
            # Delivered even when whoever queued it stopped waiting: nothing is dropped.
            while True:
                try:
                    _settle(future, await op())
                except RetryAfter as exc:  # Telegram says when: wait exactly that long
                    await asyncio.sleep(_seconds(exc.retry_after))
                    continue
                except BadRequest as exc:
                    _settle(future, None, None if "not modified" in exc.message.lower()
                            else exc)
                except (TimedOut, NetworkError) as exc:
                    failures += 1
                    if failures <= MAX_NETWORK_RETRIES:
                        await asyncio.sleep(min(0.25 * 2 ** failures, 30))
                        continue
                    log.error("giving up on a Telegram call after %d failures: %s",
                              failures, exc)
                    _settle(future, None, exc)
                except Exception as exc:
                    _settle(future, None, exc)
                break

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()


def _settle(future: asyncio.Future[Any], result: Any,
            exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
