"""The coordinator's reading of the relay: what happens to runs on the workers, written here
through the stores as if it had happened here.

The relay is one Redis stream (``gluon:relay``) read by the consumer group ``coordinator``.
Every entry is stamped (worker, run, fence, seq). It is applied in one database transaction
together with the record that it was (``cluster_runs``: the newest fence of the run and the
last seq applied under it), then acknowledged and deleted from the stream, so:

- an entry delivered again (the coordinator died between applying and acknowledging) changes
  nothing: its seq is not newer;
- an entry from a worker whose fence is older than the newest seen for the run (it lost the
  run to another worker) is dropped, with a log line;
- a coordinator that stops loses nothing: what it had read but not acknowledged is read
  again first when it starts, and what it never read waits in the stream.

Applying an entry: a state change becomes a transition of the run here (with its event on the
log and the bus, so chat, the status page and ``gluon events`` see it), a question or
permission request an interaction here (same id) that any surface answers, a line of the run's
log a line here, a change of its row (cost, turns, tokens, session, commits) the row here, and
what it spent the day's usage here, so budgets count it. Agent text and tool calls go on the
bus only, as they do for a local run. A turn the worker handed back to the hooks here (see
:mod:`core.cluster.on_coordinator.follow`) is recorded on the run, which stays live here until
they decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from core.cluster import keys, link
from core.cluster.on_coordinator.dispatch import Dispatcher
from core.cluster.on_coordinator.store import ClusterStore, Verdict
from core.cluster.wire import MIRRORED, PARKED, TURN, Entry, EntryType, live_event
from core.errors import GluonError, NotFound
from core.events.log import build
from core.models import Interaction, Run
from core.runs.commands import CommandKind, RunCommand
from core.runs.follow_ups import HANDED_BACK
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

CONSUMER = "coordinator"
BLOCK_MS = 1000
RETRY_SECONDS = 2.0
MAX_ATTEMPTS = 3  # an entry whose application fails this often is dropped, with its error


def _ends(body: dict[str, Any]) -> bool:
    """A relayed transition that ends the run's life on its worker (see the relay)."""
    fields = body.get("fields") or {}
    return body.get("kind") == "RunStateChanged" and fields.get("old") is not None and \
        fields.get("new") not in ("running", "waiting")


class RelayIngest:
    def __init__(self, runs: RunManager, store: ClusterStore, dispatcher: Dispatcher,
                 redis: aioredis.Redis) -> None:
        self.runs = runs
        self.store = store
        self.dispatcher = dispatcher
        self.redis = redis
        self._failures: dict[str, int] = {}
        self.applied = 0  # entries applied since start (for the tests and the logs)

    async def run(self) -> None:
        """Forever: the pending entries of this consumer first, then new ones as they come.
        Redis going away is logged once and waited out."""
        down: str | None = None
        while True:
            try:
                await self._ensure_group()
                while await self._read("0", block_ms=None):
                    pass
                if down is not None:
                    log.info("the relay from the workers is read again")
                    down = None
                while True:
                    await self._read(">", block_ms=BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, GluonError) as exc:
                if str(exc) != down:
                    log.warning("the relay from the workers cannot be read: %s", exc)
                down = str(exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(keys.RELAY, keys.RELAY_GROUP, id="0", mkstream=True)

    async def _read(self, after: str, *, block_ms: int | None) -> bool:
        """Read and apply one batch; whether there was anything."""
        entries = await link.xreadgroup(self.redis, keys.RELAY_GROUP, CONSUMER, keys.RELAY,
                                        after, block_ms=block_ms)
        for entry_id, fields in entries:
            if await self._handle(entry_id, fields):
                await self.redis.xack(keys.RELAY, keys.RELAY_GROUP, entry_id)
                await self.redis.xdel(keys.RELAY, entry_id)
        return bool(entries)

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> bool:
        """Apply one entry; whether it is done with (applied, a duplicate, stale, broken)."""
        if not fields:
            return True  # deleted while pending
        try:
            entry = Entry.parse(fields)
        except (KeyError, ValueError) as exc:
            log.warning("relay entry %s is not one (%s); dropped", entry_id, exc)
            return True
        try:
            if entry.type is EntryType.EVENT and _ends(entry.body):
                await self.dispatcher.receive(entry.run_id)
            after = await self.apply(entry)
        except asyncio.CancelledError:
            raise
        except Exception:
            attempts = self._failures[entry_id] = self._failures.get(entry_id, 0) + 1
            if attempts < MAX_ATTEMPTS:
                log.exception("relay entry %s of run %s (%s) could not be applied (attempt "
                              "%d); trying again", entry_id, entry.run_id, entry.type, attempts)
                await asyncio.sleep(RETRY_SECONDS)
                return False
            log.exception("relay entry %s of run %s (%s) dropped after %d failed attempts",
                          entry_id, entry.run_id, entry.type, attempts)
            after = None
        self._failures.pop(entry_id, None)
        if after is not None:
            await after()
        return True

    async def apply(self, entry: Entry) -> Callable[[], Awaitable[None]] | None:
        """Apply one entry with its record, in one transaction; what to do once committed."""
        after: Callable[[], Awaitable[None]] | None = None
        async with self.runs.store.transaction():
            verdict = await self.store.accept(entry.run_id, entry.worker, entry.fence,
                                              entry.seq)
            if verdict is Verdict.STALE:
                log.info("dropped what worker %s sent about run %s under fence %d: another "
                         "worker has taken the run since", entry.worker, entry.run_id,
                         entry.fence)
            elif verdict is Verdict.UNKNOWN:
                log.warning("worker %s sent about run %s, which was not dispatched from "
                            "here; dropped", entry.worker, entry.run_id)
            if verdict is not Verdict.APPLY:
                return None
            try:
                run = await self.runs.store.get(entry.run_id)
            except NotFound:
                return None
            after = await self._apply(entry, run)
        self.applied += 1
        return after

    async def _apply(self, entry: Entry, run: Run) -> Callable[[], Awaitable[None]] | None:
        body, store = entry.body, self.runs.store
        kind = entry.type
        if kind is EntryType.CLAIMED:
            log.info("run %s is executed by worker %s (fence %d, attempt %s)", run.id,
                     entry.worker, entry.fence, body.get("attempt"))
        elif kind is EntryType.EVENT:
            await self._event(run, body)
        elif kind is EntryType.LOG:
            await store.add_event(run.id, str(body["kind"]), str(body["summary"]),
                                  float(body["at"]))
        elif kind is EntryType.RUN:
            await self._row(run, body)
        elif kind is EntryType.LIVE:
            event = live_event(body, run.id, run.project)

            async def publish() -> None:
                self.runs.bus.publish(event)
            return publish
        elif kind is EntryType.COMMAND_DONE:
            command_id = int(body["command"])
            await self.runs.commands.complete(RunCommand(
                id=command_id, run_id=run.id, kind=CommandKind(body.get("kind", "steer")),
                actor="", created_at=time.time()))
            return lambda: self.dispatcher.applied(run.id, command_id)  # out of the stream
        elif kind is EntryType.ALLOW:
            await self.runs.allow_for_project(run.project, str(body["rule"]))
        elif kind is EntryType.ENDED:
            await self.store.ended(run.id, str(body["state"]))
            log.info("worker %s is done with run %s (%s)", entry.worker, run.id,
                     body["state"])

            async def ended() -> None:
                self.dispatcher.ended(run.id)
            return ended
        return None

    async def _event(self, run: Run, body: dict[str, Any]) -> None:
        kind, fields, at = str(body["kind"]), dict(body["fields"]), float(body["at"])
        mirrored = await self._spent(run, body.get("run") or {})
        if kind == "RunStateChanged":
            if fields.get("old") is None:  # the worker's copy of the run was made
                if mirrored:
                    await self.runs.store.update(run.id, **mirrored)
                return
            row = body.get("run") or {}
            if fields.get("new") == "queued" and fields.get("reason") == HANDED_BACK \
                    and row.get(TURN):
                # The turn waits on the run, live here, for the hooks here to decide what
                # follows (the run's supervisor asks them once the worker is done).
                await self.runs.store.update(run.id, state_reason=HANDED_BACK,
                                             turn_result=row[TURN], **mirrored)
                return
            await self.runs.store.transition(run.id, RunState(fields["new"]),
                                             str(fields["reason"]), checked=False, at=at,
                                             **mirrored)
        elif kind == "InteractionRequested":
            await self.runs.interactions.mirror(
                Interaction.model_validate(body["interaction"]), run.project)
        elif kind == "InteractionAnswered":
            await self.runs.interactions.mirror_answer(
                str(fields["interaction_id"]), fields["answer"], str(fields["answered_by"]), at)
        else:
            events = self.runs.events
            if events is None:
                return
            events.publish(await events.append(build(kind, run.id, run.project, at, fields)))

    async def _row(self, run: Run, body: dict[str, Any]) -> None:
        mirrored = await self._spent(run, body)
        parked = {k: body[k] for k in PARKED if k in body}
        if mirrored or parked:
            await self.runs.store.update(run.id, **mirrored, **parked)

    async def _spent(self, run: Run, row: dict[str, Any]) -> dict[str, Any]:
        """The mirrored columns of a relayed row; what it spent since the last one counts in
        the day's usage here."""
        mirrored = {k: row[k] for k in MIRRORED if k in row}
        cost = float(mirrored.get("cost_usd", run.cost_usd)) - run.cost_usd
        tokens_in = int(mirrored.get("input_tokens", run.input_tokens)) - run.input_tokens
        tokens_out = int(mirrored.get("output_tokens", run.output_tokens)) - run.output_tokens
        if cost > 0 or tokens_in > 0 or tokens_out > 0:
            await self.runs.usage.record(run.id, run.project, max(cost, 0.0),
                                         max(tokens_in, 0), max(tokens_out, 0))
        return mirrored
