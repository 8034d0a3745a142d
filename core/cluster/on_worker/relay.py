"""A worker's side of one run it executes: the relay of what happens to it, and the inbox of
the commands people send it.

**The relay** reads the worker's copy of the run from cursors (its durable events, its log
lines, its row) and sends what is new to the coordinator's ``gluon:relay`` stream, each entry
stamped with the worker, the run, the worker's fence for it and a number that grows with every
entry under that fence. Agent text and tool calls go the same way as they happen, best effort.
The transition that ends the run's life on this worker (ready for review, failed, cancelled,
parked in the queue) waits for the end (:meth:`RunRelay.flush` with ``final``): the worker
pushes the run's branch first, so the coordinator, which fetches the branch when it applies
that transition, has the run's last work when people hear it ended.
It also keeps the run's *progress* in Redis (session, prompt delivered, costs), guarded by the
fence, for a worker that takes the run over. A cursor moves only once Redis has the entry, so a
Redis that goes away delays entries and loses none.

**The inbox** reads the run's command stream (``gluon:cmd:<run>``) and puts each command on
the run's channel here, where the supervisor applies it once (an answer is first recorded on
the request here, with the answer given on the coordinator; the answer to a request of an
earlier worker's agent goes to this agent as a message); the relay says which are applied.
A message for the agent is first kept for a worker that may take the run over before a
shipped session holds it (see :mod:`core.cluster.transfer.replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.cluster import keys, link
from core.cluster.lease import RunLease
from core.cluster.on_worker.replica import Replica
from core.cluster.transfer import replay
from core.cluster.wire import MIRRORED, PARKED, TURN, Entry, EntryType, live_body
from core.errors import Conflict, GluonError, NotFound
from core.events.bus import Event, InteractionRequested, RunStateChanged
from core.events.log import fields_of, kind_of
from core.runs.commands import CommandKind
from core.runs.permissions import told

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
"""How often the relay looks for what changed without being woken (the row, commands)."""
RETRY_SECONDS = 1.0

# Write the run's progress only under a fence at least as new as the one that wrote it last.
_PROGRESS = """
local newest = tonumber(redis.call('hget', KEYS[1], 'fence') or '0')
if tonumber(ARGV[1]) < newest then return 0 end
redis.call('hset', KEYS[1], 'fence', ARGV[1], 'attempt', ARGV[2], 'row', ARGV[3])
redis.call('expire', KEYS[1], ARGV[4])
return 1
"""


class RunRelay:
    def __init__(self, redis: aioredis.Redis, worker: str, lease: RunLease, attempt: int,
                 replica: Replica, *, events_after: int, rules: list[str]) -> None:
        self.redis = redis
        self.worker = worker
        self.lease = lease
        self.attempt = attempt
        self.replica = replica
        self.run_id = lease.run_id
        self.seq = 0
        self._events_after = events_after
        self._log_after = 0
        self._row: dict[str, Any] = {}
        self._progress = ""
        self._rules = set(rules)
        self.forwarded: dict[int, int | None] = {}  # command id there -> here (None: no-op)
        self._done: set[int] = set()
        self._lock = asyncio.Lock()
        self._write_progress = redis.register_script(_PROGRESS)
        self._down: str | None = None

    async def send(self, kind: EntryType, body: dict[str, Any]) -> None:
        entry = Entry(self.worker, self.run_id, self.lease.fence, self.seq + 1, kind, body)
        await link.xadd(self.redis, keys.RELAY, entry.fields())
        self.seq += 1

    async def run(self) -> None:
        """Until cancelled: send what happens to the run, as it happens."""
        with self.replica.bus.subscribe(lambda e: e.run_id == self.run_id) as sub:
            while True:
                event: Event | None = None
                with contextlib.suppress(TimeoutError):
                    event = await sub.get(timeout=FLUSH_SECONDS)
                try:
                    if event is not None and event.seq is None:
                        await self._live(event)
                    await self.flush()
                    if self._down is not None:
                        log.info("run %s: the relay reaches Redis again", self.run_id)
                        self._down = None
                except (RedisError, OSError) as exc:
                    if str(exc) != self._down:
                        log.warning("run %s: the relay cannot reach Redis (%s); it tries "
                                    "again", self.run_id, exc)
                    self._down = str(exc)
                    await asyncio.sleep(RETRY_SECONDS)

    async def _live(self, event: Event) -> None:
        body = live_body(event)
        if body is not None:
            await self.send(EntryType.LIVE, body)

    async def flush(self, *, final: bool = False) -> None:
        """Send everything new about the run, in order; the transition that ends its life here
        only when ``final``."""
        async with self._lock:
            await self._events(False)
            await self._log()
            if final:  # after the lines logged before it: the run's log is whole by then
                await self._events(True)
                await self._log()
            row = await self._mirrored()
            if row != self._row:
                await self.send(EntryType.RUN, row)
                self._row = row
            await self._save_progress()
            await self._allowed()
            await self._applied()

    async def _events(self, final: bool) -> None:
        events = self.replica.events
        while True:
            page = await events.after(self._events_after, 100, run_id=self.run_id)
            for event in page.events:
                assert event.seq is not None
                if not final and ends_here(event):
                    return  # after the branch is pushed
                body: dict[str, Any] = {"kind": kind_of(event), "fields": fields_of(event),
                                        "at": event.at, "run": await self._mirrored()}
                if isinstance(event, InteractionRequested):
                    asked = await self.replica.runs.interactions.get(event.interaction_id)
                    body["interaction"] = asked.model_dump(mode="json")
                await self.send(EntryType.EVENT, body)
                self._events_after = event.seq
            self._events_after = max(self._events_after, page.next)
            if len(page.events) < 100:
                return

    async def _log(self) -> None:
        while True:
            # From the start: every line (the store gives a log's tail when asked after 0).
            limit = 200 if self._log_after else 100_000
            lines = await self.replica.store.events(self.run_id, self._log_after, limit)
            for line in lines:
                await self.send(EntryType.LOG, {"kind": line.kind, "summary": line.summary,
                                                "at": line.at})
                self._log_after = line.id
            if len(lines) < limit:
                return

    async def _mirrored(self) -> dict[str, Any]:
        run = await self.replica.store.get(self.run_id)
        hidden = await self.replica.store.hidden(self.run_id)
        row = {**run.model_dump(mode="json"), **hidden}
        return {k: row[k] for k in (*MIRRORED, *PARKED, TURN)}

    async def _save_progress(self) -> None:
        progress = await self.replica.progress(self.run_id)
        if progress != self._progress:
            await self._write_progress(keys=[keys.progress(self.run_id)],
                                       args=[self.lease.fence, self.attempt, progress,
                                             keys.LEFTOVER_SECONDS])
            self._progress = progress

    async def save_progress(self) -> None:
        """Write the run's progress now (a worker handing the run over, its relay stopped)."""
        self._progress = ""
        await self._save_progress()

    async def _allowed(self) -> None:
        run = await self.replica.store.get(self.run_id)
        rules = set(await self.replica.projects.store.tool_rules(run.project))
        for rule in sorted(rules - self._rules):
            await self.send(EntryType.ALLOW, {"rule": rule})
            self._rules.add(rule)

    async def _applied(self) -> None:
        for command, here in list(self.forwarded.items()):
            if command in self._done:
                continue
            if here is None or await self.replica.command_store.is_done(here):
                await self.send(EntryType.COMMAND_DONE, {"command": command})
                self._done.add(command)


def ends_here(event: Event) -> bool:
    """A transition that ends the run's life on its worker: to an ended state, or back to the
    queue (parked until a usage limit resets, or going on in a fresh session)."""
    return isinstance(event, RunStateChanged) and event.old is not None and (
        event.new.is_ended or event.new is not event.old and event.new.value == "queued")


class CommandInbox:
    """The commands sent to a run on the coordinator, onto its channel on this worker."""

    def __init__(self, redis: aioredis.Redis, replica: Replica, relay: RunRelay) -> None:
        self.redis = redis
        self.replica = replica
        self.relay = relay
        self.run_id = relay.run_id

    async def run(self) -> None:
        after = "0"  # from the first: the stream holds only commands not applied yet
        down: str | None = None
        while True:
            try:
                entries = await link.xread(self.redis, keys.commands(self.run_id), after,
                                           block_ms=1000)
                down = None
            except (RedisError, OSError) as exc:
                if str(exc) != down:
                    log.warning("run %s: its commands cannot be read (%s); trying again",
                                self.run_id, exc)
                down = str(exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for entry_id, fields in entries:
                after = entry_id
                try:
                    await self._take(fields)
                except (KeyError, ValueError) as exc:
                    log.warning("run %s: command entry %s is not one (%s); skipped",
                                self.run_id, entry_id, exc)

    async def _take(self, fields: dict[str, str]) -> None:
        command = int(fields["id"])
        if command in self.relay.forwarded:
            return
        kind = CommandKind(fields["kind"])
        actor = fields["actor"]
        payload = {str(k): str(v) for k, v in json.loads(fields["payload"]).items()}
        channel = self.replica.runs.commands
        here: int | None = None
        if kind is CommandKind.ANSWER:
            recorded = await self._answer(payload, actor)
            if recorded:
                here = (await channel.send(self.run_id, kind, actor,
                                           interaction_id=payload["interaction_id"])).id
            elif recorded is None and payload.get("title"):
                # Asked by the agent of a worker before: this agent is told, as after a
                # restart of a Gluon that runs its runs itself.
                answer = json.loads(payload["answer"])
                here = await self._steer(command, payload.get("answered_by") or actor, told(
                    payload["title"], answer if isinstance(answer, str) else json.dumps(answer)))
        elif kind is CommandKind.STEER:
            here = await self._steer(command, actor, payload["text"])
        else:
            here = (await channel.send(self.run_id, kind, actor)).id
        self.relay.forwarded[command] = here

    async def _steer(self, command: int, actor: str, text: str) -> int:
        """A message for the agent, kept first until a shipped session holds it, for a
        worker that may take the run over (see :mod:`core.cluster.transfer.replay`); its id here."""
        try:
            await replay.record(self.redis, self.run_id, fence=self.relay.lease.fence,
                                attempt=self.relay.attempt, command_id=command, text=text)
        except (RedisError, OSError) as exc:
            log.warning("run %s: steer %d not kept for a worker taking the run over: %s",
                        self.run_id, command, exc)
        return (await self.replica.runs.commands.send(self.run_id, CommandKind.STEER, actor,
                                                      text=text)).id

    async def _answer(self, payload: dict[str, str], actor: str) -> bool | None:
        """Record an answer given on the coordinator on the request here; whether the run
        here has such a request: None when it was asked of an earlier worker's agent."""
        answer = json.loads(payload["answer"])
        try:
            await self.replica.runs.interactions.answer(
                payload["interaction_id"], answer if isinstance(answer, str) else
                json.dumps(answer), payload.get("answered_by") or actor)
        except NotFound:
            log.info("run %s: answer to %s, asked before this worker took the run: its "
                     "agent is told", self.run_id, payload["interaction_id"])
            return None
        except Conflict:
            pass  # answered here already (the command came again)
        except GluonError as exc:
            log.warning("run %s: answer to %s not recorded: %s", self.run_id,
                        payload["interaction_id"], exc)
            return False
        return True
