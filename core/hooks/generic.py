"""Generic webhooks (``POST /hooks/<name>``, ``[hooks.<name>]`` in the config): a signed JSON
body fills the hook's prompt template and starts a run on its project.

For CI systems, error trackers and the like. Authentication is the hook's ``secret``: an
HMAC-SHA256 signature of the body in ``signature_header`` (``sha256=<hex>``, as GitHub signs),
or ``Authorization: Bearer <secret>``. A delivery is taken once: by the ``id_header`` when the
sender sends one, else by the body's hash within ``dedupe_window_seconds``. The prompt is filled
in when the delivery arrives, so a body without a field the template needs is refused (422)
with the field's name and nothing is queued; the run starts after the answer.
"""

from __future__ import annotations

import json
import logging
import time

from core.config import Config, HookConfig
from core.errors import UserError
from core.hooks.answer import Answer, Headers, body_hash, delivery_id
from core.hooks.signature import same_token, verify
from core.hooks.store import Delivery, DeliveryState, DeliveryStore, Incoming
from core.hooks.template import render
from core.hooks.worker import Outcome
from core.projects.service import ProjectService
from core.runs.service import RunManager

log = logging.getLogger(__name__)


class GenericHooks:
    def __init__(self, config: Config, store: DeliveryStore, runs: RunManager,
                 projects: ProjectService) -> None:
        self.config = config
        self.store = store
        self.runs = runs
        self.projects = projects

    def authorized(self, hook: HookConfig, headers: Headers, body: bytes) -> bool:
        secret = hook.secret.get_secret_value()
        if hook.auth == "bearer":
            scheme, _, token = headers.get("authorization", "").partition(" ")
            return scheme.lower() == "bearer" and same_token(secret, token)
        return verify(secret, body, headers.get(hook.signature_header.lower()))

    async def receive(self, name: str, headers: Headers, body: bytes,
                      now: float | None = None) -> Answer:
        hook = self.config.hooks.get(name)
        if hook is None:
            known = ", ".join(sorted(self.config.hooks)) or "none"
            return Answer(404, f"no webhook named {name!r} (configured: {known}); add "
                          f"[hooks.{name}] to the config")
        if not self.authorized(hook, headers, body):
            how = ("an Authorization: Bearer header with the hook's secret" if
                   hook.auth == "bearer" else
                   f"a {hook.signature_header} header (sha256=<HMAC-SHA256 of the body>)")
            log.warning("webhook %s: a delivery without a valid signature was refused", name)
            return Answer(401, f"bad or missing credentials: hook {name!r} needs {how}")
        try:
            data = json.loads(body)
        except ValueError:
            return Answer(400, "the body is not JSON; send a JSON document")
        try:
            await self.projects.get(hook.project)
            prompt = render(hook.prompt, data)
        except UserError as exc:
            log.warning("webhook %s: delivery refused: %s", name, exc)
            return Answer(422, f"{exc}; nothing was queued")
        now = time.time() if now is None else now
        given = delivery_id(headers.get(hook.id_header.lower(), ""))
        digest = body_hash(body)
        received = await self.store.receive(Incoming(
            source=name, delivery_id=given or f"body:{digest[:32]}:{now:.6f}",
            body_hash=digest, payload=json.dumps({"prompt": prompt}), project=hook.project),
            same_body_since=None if given else now - hook.dedupe_window_seconds, now=now)
        if received.replay:
            return Answer(200, f"delivery {received.delivery.seq} was received already "
                          f"({received.delivery.state}); ignored")
        return Answer(202, f"queued as delivery {received.delivery.seq}", queued=True)

    async def handle(self, delivery: Delivery, payload: dict[str, str]) -> Outcome:
        hook = self.config.hooks.get(delivery.source)
        if hook is None:
            return Outcome(DeliveryState.IGNORED, f"hook {delivery.source!r} is no longer "
                           "configured")
        # The key makes the start idempotent: a delivery worked on twice (Gluon stopped
        # between the start and recording it) starts one run.
        run = await self.runs.start_run(
            hook.project, payload["prompt"], model=hook.model, actor=f"hook:{delivery.source}",
            priority=hook.priority, key=f"hook:{delivery.source}:{delivery.delivery_id}",
            source="webhook")
        return Outcome(DeliveryState.DONE, f"started run {run.id}", run.id)
