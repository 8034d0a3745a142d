"""The coordinator's side of a run executed by a worker (``[cluster] run_on = "workers"``).

A run that passed the gate is *dispatched* rather than started here: its snapshot (task, model,
session, costs, where its code is; never a secret) goes to the workers as a ``run.exec`` job,
keyed by the run's attempt so a replay adds nothing. Its supervisor coroutine here holds the
run's start job (as a local run's does) and, until the worker is done with the attempt:

- forwards the commands people send it (steer, interrupt, cancel, answers, through the run's
  command channel as for a local run) to the run's Redis stream, an answer with its content;
  the worker applies each once and says so on the relay, which completes it here;
- watches the dispatch: while no worker has taken the run, its reason says what it waits for,
  and so it does when the worker that had the run stopped holding it (died, hung, stopped)
  until another worker takes it over;
  when every worker up has refused it (it cannot reach the project's code, it does not serve
  the project), or its job died, the run fails with their reasons; a cancel before any worker
  took it closes the dispatch, so no worker will;
- returns when the relay says the worker is done (see
  :mod:`core.cluster.on_coordinator.ingest`), after bringing the run's branch into the user's
  repository and, when the worker handed a turn its agent ended well back, deciding what
  follows it here (:mod:`core.cluster.on_coordinator.follow`).

Cancelled (the coordinator stops), it leaves the run to its worker; the next start finds the
run live and executing on a worker, and waits for it again (see ``Executor``'s reattach).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.cluster import keys, link
from core.cluster.on_coordinator.follow import FollowThrough
from core.cluster.on_coordinator.store import ClusterStore, Phase
from core.cluster.registry import Workers
from core.cluster.transfer.code import receive
from core.cluster.transfer.source import Source, source_for
from core.cluster.wire import RunSnapshot, command_fields
from core.errors import GluonError
from core.git import ops as gitops
from core.jobs import JobId, JobQueue, JobState, QueueUnavailable
from core.models import Run
from core.runs.commands import CommandKind, RunCommand
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0
"""How often a dispatched run's refusals, job and end are looked at (besides being woken)."""

# Raise a run's fence to the newest the coordinator saw (ARGV[1]) and the shipped session holds,
# and keep it while the attempt lives: a fence that expired after an earlier attempt never
# comes back lower than a number a worker had.
_FLOOR = """
local floor = tonumber(ARGV[1])
local shipped = tonumber(redis.call('hget', KEYS[2], 'fence') or '0') or 0
if shipped > floor then floor = shipped end
if tonumber(redis.call('get', KEYS[1]) or '0') < floor then redis.call('set', KEYS[1], floor) end
redis.call('persist', KEYS[1])
return floor
"""

# Close a dispatch nobody has taken: only while no worker holds the run's lease.
_CLOSE = """
if redis.call('exists', KEYS[2]) == 1 then return 0 end
redis.call('hset', KEYS[1], 'open', '0')
return 1
"""


class Dispatcher:
    """Implements :class:`core.runs.remote.RemoteExecution` over the cluster's Redis."""

    def __init__(self, runs: RunManager, redis: aioredis.Redis, queue: JobQueue,
                 store: ClusterStore, workers: Workers, *,
                 coordinator_url: Callable[[], str]) -> None:
        """``coordinator_url``: where workers reach this Gluon (its git route serves the
        projects that have no network remote)."""
        self.runs = runs
        self.coordinator_url = coordinator_url
        self.redis = redis
        self.queue = queue
        self.store = store
        self.workers = workers
        self._ended: dict[str, asyncio.Event] = {}
        self._close = redis.register_script(_CLOSE)
        self.follow = FollowThrough(runs, self.source)  # what follows a turn handed back
        self._floor = redis.register_script(_FLOOR)

    # -- RemoteExecution ----------------------------------------------------------------------

    async def executing(self, run_id: str) -> bool:
        row = await self.store.get(run_id)
        return row is not None and (row.phase is not Phase.ENDED
                                    or await self.follow.pending(run_id))

    async def supervise(self, run: Run) -> None:
        row = await self.store.get(run.id)
        # A turn its worker handed back, not yet decided (this Gluon stopped meanwhile): what
        # follows it is decided first, and nothing is dispatched.
        decided_first = row is not None and row.phase is Phase.ENDED \
            and await self.follow.pending(run.id)
        if not decided_first and not await self._attempt(run):
            return
        await self.follow.decide(run.id)
        await self._done(run.id)

    async def _attempt(self, run: Run) -> bool:
        """Dispatch the run and wait until its worker is done with the attempt; False when it
        could not be dispatched (it failed)."""
        ended = self._ended.setdefault(run.id, asyncio.Event())
        ended.clear()
        tasks: list[asyncio.Task[None]] = []
        try:
            try:
                attempt, job = await self._dispatch_when_up(run)
            except GluonError as exc:  # its code has nowhere workers can fetch it from
                await self.runs.transition(run.id, RunState.FAILED,
                                           f"could not dispatch the run: {exc}"[:1000],
                                           error=str(exc)[:2000])
                return False
            tasks = [asyncio.create_task(self._forward(run.id), name=f"forward-{run.id}"),
                     asyncio.create_task(self._watch(run.id, attempt, job),
                                         name=f"dispatch-{run.id}")]
            await ended.wait()  # set by the ingest, or by the watch (ended meanwhile)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            self._ended.pop(run.id, None)
        return True

    def ended(self, run_id: str) -> None:
        """The relay says the worker is done with the run's attempt (called by the ingest)."""
        event = self._ended.get(run_id)
        if event is not None:
            event.set()

    # -- dispatching --------------------------------------------------------------------------

    async def _dispatch_when_up(self, run: Run) -> tuple[int, JobId]:
        """Dispatch the run, waiting for Redis if it does not answer (said once)."""
        down: str | None = None
        while True:
            try:
                return await self._dispatch(run)
            except (QueueUnavailable, RedisError, OSError) as exc:
                if str(exc) != down:
                    log.warning("run %s cannot be dispatched yet: %s", run.id, exc)
                down = str(exc)
                await asyncio.sleep(5 * WATCH_SECONDS)

    async def _dispatch(self, run: Run) -> tuple[int, JobId]:
        store = self.runs.store
        attempt = await store.times_queued(run.id)
        hidden = await store.hidden(run.id)
        project = await self.runs.projects.named(run.project)
        if run.base_sha is None:  # queued to start later: its base as it is now
            ref = run.base_branch or "HEAD"
            await store.update(run.id, base_sha=await gitops.head_sha(Path(project.path), ref))
            run = await store.get(run.id)
        start = run.base_sha
        if run.branch and await gitops.branch_exists(Path(project.path), run.branch):
            start = await gitops.head_sha(Path(project.path), run.branch)  # a fork's parent
        snapshot = RunSnapshot(
            run_id=run.id, attempt=attempt, project=run.project,
            source=(await self.source(run.project)).payload(), prompt=run.prompt,
            pending_prompt=hidden["pending_prompt"], fork_from=hidden["fork_from"],
            parent_id=run.parent_id, model=run.model, use_worktree=run.use_worktree,
            branch=run.branch, base_branch=run.base_branch, base_sha=run.base_sha,
            start_sha=start, session_id=run.session_id, session_started=run.session_started,
            budget_usd=run.budget_usd, created_by=run.created_by, created_at=run.created_at,
            cost_usd=run.cost_usd, session_cost_usd=float(hidden["session_cost_usd"] or 0),
            turns=run.turns, tool_calls=run.tool_calls, input_tokens=run.input_tokens,
            output_tokens=run.output_tokens, trusted=project.trusted,
            tool_rules=await self.runs.projects.tool_rules(run.project))
        row = await self.store.dispatched(run.id, attempt)
        await self._floor(keys=[keys.fence(run.id), keys.session(run.id)], args=[row.fence])
        if row.phase is Phase.DISPATCHED:
            await self.redis.hset(keys.dispatch(run.id),
                                  mapping={"attempt": attempt, "open": 1})
            await self.redis.expire(keys.dispatch(run.id), keys.LEFTOVER_SECONDS)
        job = await self.queue.enqueue(keys.EXEC_KIND, snapshot.model_dump(mode="json"),
                                       key=keys.exec_key(run.id, attempt),
                                       priority=run.priority)
        log.info("run %s (attempt %d) dispatched to the workers as job %s", run.id, attempt,
                 job)
        return attempt, job

    async def _watch(self, run_id: str, attempt: int, job: JobId) -> None:
        unheld = 0  # looks in a row that found no worker holding the run
        down: str | None = None  # Redis not answering, said once
        while True:
            try:
                if await self._check(run_id, attempt, job):
                    return
                unheld = unheld + 1 if await self._unheld(run_id) else 0
                if unheld == 2:  # not the moment between a worker's end and its news
                    await self._orphaned(run_id)
                down = None
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, QueueUnavailable) as exc:
                if str(exc) != down:
                    log.warning("run %s: its dispatch cannot be watched: %s", run_id, exc)
                down = str(exc)
            except Exception:
                log.exception("watching the dispatch of run %s failed; watching on", run_id)
            await asyncio.sleep(WATCH_SECONDS)

    async def _check(self, run_id: str, attempt: int, job: JobId) -> bool:
        """One look at a dispatched run; True once there is nothing more to watch."""
        row = await self.store.get(run_id)
        if row is None or row.phase is Phase.ENDED:
            self.ended(run_id)
            return True
        if row.phase is not Phase.DISPATCHED:
            return False
        workers = await self.workers.live()
        refused = await link.hgetall(self.redis, keys.refusals(run_id, attempt))
        if refused and all(w.name in refused for w in workers):
            why = "; ".join(f"{name}: {reason}" for name, reason in sorted(refused.items()))
            await self._end_here(run_id, RunState.FAILED,
                                 f"no worker could take the run: {why}"[:1000])
            return True
        state = (await self.queue.get(job)).state
        if state is JobState.DEAD:
            error = (await self.queue.get(job)).error or "its job died"
            await self._end_here(run_id, RunState.FAILED,
                                 f"no worker could take the run: {error}"[:1000])
            return True
        waiting = ("waiting for a worker to take it" if workers else
                   "waiting for a worker: none is up and taking runs (start one with `gluon "
                   "worker`, or undrain one)")
        run = await self.runs.store.get(run_id)
        if run.state is RunState.QUEUED and run.state_reason != waiting:
            # Looked at again and changed in one transaction: the relay may have said
            # meanwhile that a worker started the run, which must not go back to the queue.
            async with self.runs.store.transaction():
                run = await self.runs.store.get(run_id)
                if run.state is RunState.QUEUED and run.state_reason != waiting:
                    hidden = await self.runs.store.hidden(run_id)
                    await self.runs.transition(run_id, RunState.QUEUED, waiting,
                                               queued_at=hidden["queued_at"])
        return False

    async def _unheld(self, run_id: str) -> bool:
        """A worker took the run, and none holds it now."""
        row = await self.store.get(run_id)
        return row is not None and row.phase is Phase.RUNNING and \
            not await self.redis.exists(keys.lease(run_id))

    async def _orphaned(self, run_id: str) -> None:
        async with self.runs.store.transaction():  # not over a state the relay applies now
            row = await self.store.get(run_id)
            run = await self.runs.store.get(run_id)
            if row is None or run.state not in (RunState.RUNNING, RunState.WAITING):
                return
            reason = (f"worker {row.worker} stopped holding the run (it died, hangs or "
                      "stopped); another worker takes it over from its last turn")
            if run.state_reason != reason:
                log.info("run %s: %s", run_id, reason)
                await self.runs.transition(run_id, run.state, reason)

    async def _end_here(self, run_id: str, state: RunState, reason: str) -> bool:
        """End a run no worker holds (so none will take it); False when one holds it."""
        if not await self._close(keys=[keys.dispatch(run_id), keys.lease(run_id)]):
            return False
        fields: dict[str, Any] = {"error": reason} if state is RunState.FAILED else {}
        await self.runs.transition(run_id, state, reason, **fields)
        await self.store.ended(run_id, str(state))
        log.info("run %s %s while no worker held it: %s", run_id, state, reason)
        self.ended(run_id)
        return True

    # -- commands -----------------------------------------------------------------------------

    async def _forward(self, run_id: str) -> None:
        """The run's commands, as they are sent here, to the worker's stream (each once)."""
        forwarded: set[int] = set()
        while True:
            try:
                async for command in self.runs.commands.watch(run_id):
                    if command.id not in forwarded:
                        await self._send(command)
                        forwarded.add(command.id)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("run %s: its commands cannot be forwarded (%s); trying again",
                            run_id, exc)
                await asyncio.sleep(5 * WATCH_SECONDS)
            except Exception:
                log.exception("forwarding the commands of run %s failed; trying again", run_id)
                await asyncio.sleep(WATCH_SECONDS)

    async def _send(self, command: RunCommand) -> None:
        run_id = command.run_id
        if command.kind is CommandKind.CANCEL:
            # No worker holds the run (none took it yet, or its worker died and none took it
            # over): it ends here, and no worker will take it.
            row = await self.store.get(run_id)
            if row is not None and row.phase is not Phase.ENDED and await self._end_here(
                    run_id, RunState.CANCELLED, f"cancelled by {command.actor}"):
                await self.runs.commands.complete(command)
                return
        payload = dict(command.payload)
        if command.kind is CommandKind.ANSWER:
            try:
                answered = await self.runs.interactions.get(command.interaction_id)
            except GluonError:
                log.warning("run %s: answer %s names no request here; dropped", run_id,
                            command.interaction_id)
                await self.runs.commands.complete(command)
                return
            payload.update(answer=json.dumps(answered.answer), title=answered.title,
                           answered_by=answered.answered_by or command.actor)
        await link.xadd(self.redis, keys.commands(run_id),
                        command_fields(command.id, str(command.kind), command.actor, **payload))
        await self.redis.expire(keys.commands(run_id), keys.LEFTOVER_SECONDS)

    async def applied(self, run_id: str, command_id: int) -> None:
        """The worker applied a forwarded command: it leaves the run's stream (the relay's
        ingest has marked it done here)."""
        entries = await link.xrange(self.redis, keys.commands(run_id))
        gone = [entry for entry, fields in entries if fields.get("id") == str(command_id)]
        if gone:
            await self.redis.xdel(keys.commands(run_id), *gone)

    # -- the end ------------------------------------------------------------------------------

    async def source(self, project_name: str) -> Source:
        """Where workers fetch the project and push its runs' branches."""
        project = await self.runs.projects.named(project_name)
        return await source_for(self.runs.config, project, self.coordinator_url())

    async def receive(self, run_id: str) -> None:
        """Bring the run's branch here, as its worker pushed it (before the transition that
        ends its life there is applied: see the relay)."""
        run = await self.runs.store.get(run_id)
        try:
            project = await self.runs.projects.named(run.project)
            await receive(Path(project.path), await self.source(run.project), run.id)
        except GluonError as exc:
            log.warning("run %s: its branch could not be brought here: %s", run_id, exc)
            await self.runs.note(run, "cluster", f"⚠ The run's branch could not be fetched "
                                 f"from what its worker pushed: {exc}")

    async def _done(self, run_id: str) -> None:
        """The worker is done with the attempt: its open requests expire, a run ended for
        good hears no more of what was sent to it, and the attempt's keys go (see
        :mod:`core.cluster.keys`)."""
        run = await self.runs.store.get(run_id)
        await self.runs.interactions.expire_for_run(run_id)
        if run.state not in (RunState.INTERRUPTED, RunState.QUEUED):
            await self.runs.commands.discard(run_id)
        row = await self.store.get(run_id)
        if row is None:
            return
        await self.redis.delete(*keys.attempt_keys(run_id, row.attempt))
        await self.redis.expire(keys.fence(run_id), keys.FENCE_SECONDS)
