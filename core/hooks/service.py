"""Webhooks: every ``POST /hooks/<name>`` delivery, GitHub's (``github``) and the generic
hooks' (``[hooks.<name>]``), received, answered and then worked through in order.

:meth:`Webhooks.receive` is what the HTTP endpoint calls (a thin handler in ``bots``); it never
waits for a run to start or for GitHub. :meth:`Webhooks.run` is the daemon's task that works
through the queued deliveries and keeps runs' GitHub comments up to date.
"""

from __future__ import annotations

import asyncio

from core.config import Config
from core.events.log import EventLog
from core.github.service import SOURCE, GitHubHooks
from core.hooks.answer import MAX_BODY, Answer, Headers
from core.hooks.generic import GenericHooks
from core.hooks.store import Delivery, DeliveryState, DeliveryStore
from core.hooks.worker import DeliveryWorker


class Webhooks:
    def __init__(self, config: Config, store: DeliveryStore, github: GitHubHooks,
                 generic: GenericHooks, events: EventLog) -> None:
        self.config = config
        self.store = store
        self.github = github
        self.generic = generic
        self.worker = DeliveryWorker(store, events, {SOURCE: github.handle}, generic.handle)

    async def receive(self, name: str, headers: Headers, body: bytes) -> Answer:
        """Answer one delivery to ``/hooks/<name>`` (``headers`` with lower-case names)."""
        if len(body) > MAX_BODY:
            return Answer(413, f"the body is larger than {MAX_BODY // (1024 * 1024)} MB")
        if name == SOURCE:
            answer = await self.github.receive(headers, body)
        else:
            answer = await self.generic.receive(name, headers, body)
        if answer.queued:
            self.worker.wake()
        return answer

    async def deliveries(self, *, source: str | None = None,
                         state: DeliveryState | None = None, run_id: str | None = None,
                         limit: int = 50) -> list[Delivery]:
        """Deliveries received, newest first."""
        return await self.store.recent(source=source, state=state, run_id=run_id, limit=limit)

    async def run(self) -> None:
        """Work through deliveries and bridge runs back to GitHub, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.worker.run(), name="webhook-deliveries")
            tasks.create_task(self.github.run(), name="github-bridge")
