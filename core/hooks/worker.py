"""Working through received webhook deliveries, one at a time, in the order received.

A delivery is stored before it is answered (:mod:`core.hooks.receiver`), so the answer goes out
at once and the work (starting a run, calling GitHub) happens here, after it. The worker
hands each queued delivery to the handler of its source and records the outcome, together with
the events the handler asks to log, in one transaction. Deliveries still queued when Gluon
stopped are worked on at the next start. A handler that raises marks its delivery failed with
the reason; nothing is retried behind the sender's back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError
from core.events.bus import Event
from core.events.log import EventLog
from core.hooks.store import Delivery, DeliveryState, DeliveryStore

log = logging.getLogger(__name__)

KEEP_DAYS = 30.0
IDLE_CHECK = 60.0  # seconds between looks at the table when nothing woke the worker


@dataclass(frozen=True)
class Outcome:
    """What a handler did with a delivery, in one line, and the run it acted on."""

    state: DeliveryState
    text: str
    run_id: str | None = None
    events: list[Event] = field(default_factory=list)  # logged with the outcome


Handler = Callable[[Delivery, Any], Awaitable[Outcome]]


class DeliveryWorker:
    def __init__(self, store: DeliveryStore, events: EventLog,
                 handlers: Mapping[str, Handler], default: Handler) -> None:
        """``handlers`` by source ("github"); ``default`` for every other (generic hooks)."""
        self.store = store
        self.events = events
        self.handlers = dict(handlers)
        self.default = default
        self._wake = asyncio.Event()
        self._pruned_at = 0.0
        self.worked = 0  # deliveries worked on by this process

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Work through queued deliveries until cancelled."""
        while True:
            self._wake.clear()
            await self.drain()
            if time.time() - self._pruned_at > 86400.0:
                self._pruned_at = time.time()
                with contextlib.suppress(Exception):
                    await self.store.prune(time.time() - KEEP_DAYS * 86400.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_CHECK):
                    await self._wake.wait()

    async def drain(self) -> int:
        """Work on every delivery queued now; the number worked on."""
        done = 0
        after = 0
        while True:
            batch = await self.store.queued(after)
            if not batch:
                return done
            for delivery, payload in batch:
                after = delivery.seq
                await self.work(delivery, payload)
                done += 1

    async def work(self, delivery: Delivery, payload: str) -> None:
        handler = self.handlers.get(delivery.source, self.default)
        try:
            outcome = await handler(delivery, json.loads(payload))
        except asyncio.CancelledError:
            raise
        except UserError as exc:
            outcome = Outcome(DeliveryState.FAILED, str(exc))
        except Exception as exc:
            log.exception("delivery %s (%s %s) failed", delivery.delivery_id, delivery.source,
                          delivery.event)
            outcome = Outcome(DeliveryState.FAILED, f"{type(exc).__name__}: {exc}")
        if outcome.state is DeliveryState.FAILED:
            log.warning("delivery %s from %s failed: %s", delivery.delivery_id,
                        delivery.source, outcome.text)
        async with self.store.transaction():
            await self.store.finish(delivery.seq, outcome.state, outcome.text, outcome.run_id)
            for event in outcome.events:
                self.events.publish(await self.events.append(event))
        self.worked += 1
