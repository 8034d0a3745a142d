"""GitHub webhooks at ``POST /hooks/github``, and the links between runs and GitHub.

Receiving a delivery is quick and calls nothing outside Gluon: the signature
(``X-Hub-Signature-256``, an HMAC-SHA256 of the raw body with the webhook secret: the
project's ``projects.<name>.webhook_secret``, else ``github.webhook_secret``) is checked in
constant time, the repository is matched to a project by its ``origin`` remote, and the
delivery is stored once per ``X-GitHub-Delivery`` (GitHub's redelivery keeps it, so a replay is
answered 200 and ignored). Then it is answered, within GitHub's 10 seconds, and worked on by
:class:`~core.hooks.worker.DeliveryWorker` (:mod:`core.github.triggers`). Answers:

- 401: a bad or missing signature (or no secret configured); nothing is stored;
- 400: a delivery without ``X-GitHub-Event`` / ``X-GitHub-Delivery``, or a body that is not JSON;
- 200: ``ping``; a replay;
- 202: queued; or not queued, with the reason (a repository no project has as its origin, an
  event or action Gluon does not act on).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from core.access.users import Access
from core.config import Config
from core.events.bus import EventBus
from core.events.log import EventLog
from core.github.bridge import Bridge
from core.github.client import GitHubClient
from core.github.payloads import repository_of
from core.github.repos import RepoIndex
from core.github.store import GitHubLink, GitHubStore
from core.github.triggers import Triggers, relevant
from core.hooks.answer import Answer, Headers, body_hash
from core.hooks.answer import delivery_id as clean_id
from core.hooks.signature import verify
from core.hooks.store import Delivery, DeliveryState, DeliveryStore, Incoming
from core.hooks.worker import Outcome
from core.projects.service import ProjectService
from core.runs.service import RunManager

log = logging.getLogger(__name__)

SOURCE = "github"


class GitHubHooks:
    def __init__(self, config: Config, store: GitHubStore, deliveries: DeliveryStore,
                 runs: RunManager, projects: ProjectService, access: Access,
                 events: EventLog, bus: EventBus) -> None:
        self.config = config
        self.deliveries = deliveries
        self.store = store
        self.client = GitHubClient(config.github)
        self.repos = RepoIndex(projects)
        self.bridge = Bridge(config, self.store, self.client, runs, projects, events, bus)
        self.triggers = Triggers(config, self.store, self.client, runs, projects, access,
                                 self.bridge)

    def secret(self, project: str | None) -> str | None:
        own = self.config.project(project).webhook_secret if project else None
        chosen = own or self.config.github.webhook_secret
        return chosen.get_secret_value() if chosen is not None else None

    async def receive(self, headers: Headers, body: bytes) -> Answer:
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = None
        repo = repository_of(payload)
        project = await self.repos.project_of(repo) if repo else None
        secret = self.secret(project)
        if secret is None:
            log.warning("a GitHub delivery was refused: no webhook secret is configured")
            return Answer(401, "no webhook secret is configured: set github.webhook_secret "
                          "(and the same secret on the GitHub webhook)")
        if not verify(secret, body, headers.get("x-hub-signature-256")):
            log.warning("a GitHub delivery for %s with a bad or missing signature was refused",
                        repo or "no repository")
            return Answer(401, "bad or missing X-Hub-Signature-256: the webhook's secret must be "
                          "Gluon's github.webhook_secret")
        event = headers.get("x-github-event", "").strip()
        delivery_id = clean_id(headers.get("x-github-delivery", ""))
        if not event or not delivery_id:
            return Answer(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
        if payload is None:
            return Answer(400, "the body is not JSON; set the webhook's content type to "
                          "application/json")
        if event == "ping":
            return Answer(200, "pong: Gluon receives this webhook")
        action = str(payload.get("action") or "") if isinstance(payload, dict) else ""
        incoming = Incoming(source=SOURCE, delivery_id=delivery_id, body_hash=body_hash(body),
                            payload=body.decode(errors="replace"), event=event, action=action,
                            repo=repo, project=project)
        if project is None:
            why = (f"repository {repo} is not a Gluon project (no project's origin remote is "
                   "it); nothing was queued" if repo else "the payload names no repository")
            log.warning("GitHub delivery %s (%s): %s", delivery_id, event, why)
            await self.deliveries.receive(_replace(incoming, DeliveryState.REFUSED, why))
            return Answer(202, why)
        skip = relevant(event, payload, self.config)
        if skip is not None:
            received = await self.deliveries.receive(
                _replace(incoming, DeliveryState.IGNORED, skip))
            if received.replay:
                return Answer(200, "this delivery was received already; ignored")
            return Answer(202, f"nothing to do: {skip}")
        received = await self.deliveries.receive(incoming)
        if received.replay:
            return Answer(200, f"delivery {delivery_id} was received already "
                          f"({received.delivery.state}); ignored")
        return Answer(202, f"queued as delivery {received.delivery.seq}", queued=True)

    async def handle(self, delivery: Delivery, payload: Any) -> Outcome:
        return await self.triggers.handle(delivery, payload)

    async def links(self, *, project: str | None = None, run_id: str | None = None,
                    limit: int = 50) -> list[GitHubLink]:
        return await self.store.links(project=project, run_id=run_id, limit=limit)

    async def run(self) -> None:
        """The bridge back to GitHub, until cancelled."""
        await self.bridge.run()


def _replace(incoming: Incoming, state: DeliveryState, outcome: str) -> Incoming:
    return Incoming(source=incoming.source, delivery_id=incoming.delivery_id,
                    body_hash=incoming.body_hash, payload=None, event=incoming.event,
                    action=incoming.action, repo=incoming.repo, project=incoming.project,
                    state=state, outcome=outcome)
