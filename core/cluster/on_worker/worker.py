"""``gluon worker``: executes runs dispatched by the coordinator, on this host.

A worker claims ``run.exec`` jobs while it runs fewer than ``worker.max_runs`` and is not
draining. For each run it takes:

1. it refuses the run, with the reason, when it does not serve the run's project or cannot
   reach its code (the job goes back for another worker; the coordinator fails the run once
   every worker up has refused it); it drops a job the coordinator no longer wants;
2. it takes the run's lease and a new fence (:mod:`core.cluster.lease`); a run another worker
   still holds is left to it;
3. it checks the run's branch out from the project's source (:mod:`core.cluster.transfer.code`),
   restores the agent's session shipped by a worker that had the run before (at a fork's
   first start, its parent's session, to fork from) (:mod:`core.cluster.transfer.session_ship`),
   makes its own copy of the run from the snapshot (and that worker's progress) and runs it
   with the same supervisor as ``gluon serve``;
4. meanwhile its relay tells the coordinator everything (:mod:`core.cluster.on_worker.relay`), the
   commands sent on the coordinator come in, and after every turn the branch is pushed and
   the session shipped;
5. at the end it pushes the branch, says it is done, acks the job and frees the run.

Every third of the lease it renews its runs' leases and jobs, and writes its heartbeat. A
renewal that finds another worker's token (or a lease it could not renew for a whole lease
length) stops that run's agent at once, with one line saying why: never two agents on one
run. Stopped (SIGTERM), it hands its runs over: each agent is stopped, its work committed and
pushed, and the run freed for another worker to go on with at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from pydantic import ValidationError
from redis.exceptions import RedisError

from core.cluster import keys, link
from core.cluster.lease import RunLease, RunLeases
from core.cluster.link import ClusterUnavailable
from core.cluster.on_coordinator.coordinator import exec_queue
from core.cluster.on_worker.relay import CommandInbox, RunRelay
from core.cluster.on_worker.replica import Replica
from core.cluster.registry import WorkerInfo, Workers
from core.cluster.transfer import replay, session_ship
from core.cluster.transfer.code import BranchMoved, Checkout, WorkerCode
from core.cluster.transfer.source import Source
from core.cluster.wire import EntryType, RunSnapshot
from core.config import Config
from core.errors import GluonError
from core.events.bus import TurnFinished
from core.jobs import Lease, LeaseLost, QueueUnavailable
from core.models import Run
from core.runs.prompts import RESTART_PROMPT

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often a worker with room looks for runs without being woken."""
REFUSE_AGAIN_SECONDS = 2.0
"""A refused job is claimable again this soon (1 to 3 s), by another worker: the worker that
refused it claims nothing for a little longer (3 to 4 s)."""
REFUSAL_MEMORY_SECONDS = 30.0
"""A run refused for its code is refused again for this long without fetching again."""
HANDOVER_SECONDS = 60.0
_UNREACHABLE = (ClusterUnavailable, QueueUnavailable, RedisError, OSError)


@dataclass
class _Run:
    snap: RunSnapshot
    job: Lease
    lease: RunLease
    checkout: Checkout | None = None
    renewed_at: float = field(default_factory=time.monotonic)
    relay: RunRelay | None = None
    task: asyncio.Task[None] | None = None  # takes it, runs it, reports its end
    agent: asyncio.Task[None] | None = None  # its supervisor
    helpers: list[asyncio.Task[None]] = field(default_factory=list)
    lost: str | None = None  # why it was lost to another worker: stop, report nothing
    pushing: asyncio.Lock = field(default_factory=asyncio.Lock)


class Worker:
    def __init__(self, config: Config, replica: Replica, *, name: str) -> None:
        self.config = config
        self.replica = replica
        self.name = name
        self.lease_seconds = config.cluster.lease_seconds
        self.redis = link.client(config.cluster)
        self.blobs = link.client(config.cluster, decode=False)  # session transcripts
        token = config.cluster.token
        self.code = WorkerCode(config.home, token.get_secret_value() if token else None)
        self.queue = exec_queue(config)
        self.consumer = f"worker/{name}/{os.getpid()}"
        self.leases = RunLeases(self.redis, name, self.lease_seconds)
        self.workers = Workers(self.redis, heartbeat_seconds=self.lease_seconds / 3)
        self.runs: dict[str, _Run] = {}
        self.draining = False
        self.started_at = time.time()
        self._wake = asyncio.Event()
        self._refused: dict[tuple[str, int], tuple[float, str]] = {}
        self._stopping = False
        self._down: str | None = None
        self._claim_after = 0.0  # monotonic: no claims before (after a refusal)

    # -- the process ------------------------------------------------------------------------

    async def connect(self, stop: asyncio.Event) -> bool:
        """Wait until the cluster's Redis answers (one line each time it does not, naming
        cluster.redis_url, then backing off); False when stopped first."""
        delay = 1.0
        while not stop.is_set():
            try:
                with link.answering(self.config.cluster):
                    await self.redis.ping()
                return True
            except ClusterUnavailable as exc:
                log.warning("%s; trying again in %g s", exc, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
            delay = min(delay * 2, 30.0)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Take and run runs until ``stop`` is set; then hand the live ones over."""
        if not await self.connect(stop):
            return
        projects = ", ".join(self.config.worker.projects) or "every project"
        log.info("worker %s takes runs from %s: at most %d at once, of %s", self.name,
                 link.where(self.config.cluster), self.config.worker.max_runs, projects)
        tasks = [asyncio.create_task(self._heartbeat(), name="worker-heartbeat"),
                 asyncio.create_task(self._claim(), name="worker-claim")]
        try:
            await stop.wait()
        finally:
            self._stopping = True
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await self._hand_over()
            with contextlib.suppress(*_UNREACHABLE):
                await self.workers.leave(self.name)

    async def close(self) -> None:
        await self.queue.close()
        await self.redis.aclose()
        await self.blobs.aclose()

    def info(self) -> WorkerInfo:
        return WorkerInfo(name=self.name, version=version("gluon"), host=socket.gethostname(),
                          pid=os.getpid(), max_runs=self.config.worker.max_runs,
                          runs=sorted(self.runs), projects=list(self.config.worker.projects),
                          load=os.getloadavg()[0], started_at=self.started_at,
                          draining=self.draining)

    # -- heartbeat and leases ---------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            try:
                was = self.draining
                self.draining = await self.workers.beat(self.info())
                if self.draining != was:
                    log.info("worker %s %s", self.name, "drains: it finishes its runs and "
                             "takes no new ones" if self.draining else "takes new runs again")
                    self._wake.set()
                await self._renew()
                if self._down is not None:
                    log.info("worker %s reaches Redis again", self.name)
                    self._down = None
            except _UNREACHABLE as exc:
                if str(exc) != self._down:
                    log.warning("worker %s cannot reach Redis: %s", self.name, exc)
                self._down = str(exc)
            now = time.monotonic()
            for run in list(self.runs.values()):
                if run.lost is None and now - run.renewed_at > self.lease_seconds:
                    self._lose(run, f"could not renew the lease of run {run.snap.run_id} for "
                               f"{self.lease_seconds:g} s (Redis does not answer); another "
                               "worker may take it: stopped")
            await asyncio.sleep(self.lease_seconds / 3)

    async def _renew(self) -> None:
        for run in list(self.runs.values()):
            if run.lost is not None:
                continue
            held = await self.leases.renew(run.lease)
            if held:
                try:
                    run.job = await self.queue.renew(run.job)
                except LeaseLost:
                    held = False
            if held:
                run.renewed_at = time.monotonic()
                continue
            holder = await self.leases.holder(run.snap.run_id)
            run_id = run.snap.run_id
            self._lose(run, f"lost the lease of run {run_id} to another worker "
                       f"({holder}): stopped" if holder and holder != self.name else
                       f"the lease of run {run_id} lapsed: stopped")

    def _lose(self, run: _Run, why: str) -> None:
        """Another worker may have the run now: stop its agent and say nothing more of it."""
        run.lost = why
        log.error("%s", why)
        for task in (*run.helpers, run.agent):
            if task is not None:
                task.cancel()

    # -- taking runs ------------------------------------------------------------------------

    async def _claim(self) -> None:
        while True:
            self._wake.clear()
            try:
                while not self.draining and len(self.runs) < self.config.worker.max_runs \
                        and time.monotonic() >= self._claim_after:
                    job = await self.queue.claim(self.consumer, lease_seconds=self.lease_seconds)
                    if job is None:
                        break
                    await self._take(job)
            except _UNREACHABLE as exc:
                if str(exc) != self._down:
                    log.warning("worker %s cannot claim runs: %s", self.name, exc)
                self._down = str(exc)
            except Exception:
                log.exception("worker %s: claiming a run failed; it tries again", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()

    async def _take(self, job: Lease) -> None:
        try:
            snap = RunSnapshot.model_validate(job.payload)
        except ValidationError as exc:
            await self.queue.fail(job, f"not a run this Gluon knows: {exc}"[:500])
            return
        run_id, attempt = snap.run_id, snap.attempt
        if run_id in self.runs:  # still winding down here: taken again once that is done
            await self.queue.fail(job, f"worker {self.name} is still stopping run {run_id}",
                                  retry_at=time.time() + REFUSE_AGAIN_SECONDS)
            return
        if not await self._wanted(snap):
            log.info("run %s (attempt %d) is no longer to be run; dropped", run_id, attempt)
            await self.queue.ack(job)
            return
        reason = self._not_served(snap.project)
        earlier = self._refused.get((run_id, attempt))
        if reason is None and earlier and time.monotonic() - earlier[0] < REFUSAL_MEMORY_SECONDS:
            reason = earlier[1]
        if reason is not None:
            await self._refuse(job, snap, reason)
            return
        lease = await self.leases.acquire(run_id)
        if lease is None:
            holder = await self.leases.holder(run_id)
            await self.queue.fail(job, f"run {run_id} is held by worker {holder}",
                                  retry_at=time.time() + self.lease_seconds)
            return
        if not await self._wanted(snap):  # cancelled just now, before the lease was taken
            await self.leases.release(lease)
            await self.queue.ack(job)
            return
        run = self.runs[run_id] = _Run(snap, job, lease)
        run.task = asyncio.create_task(self._execute(run), name=f"worker-run-{run_id}")

    async def _wanted(self, snap: RunSnapshot) -> bool:
        dispatch = await link.hgetall(self.redis, keys.dispatch(snap.run_id))
        return dispatch.get("open") == "1" and dispatch.get("attempt") == str(snap.attempt)

    def _not_served(self, project: str) -> str | None:
        served = self.config.worker.projects
        if served and project not in served:
            return f"it serves only the projects {', '.join(served)}"
        return None

    async def _refuse(self, job: Lease, snap: RunSnapshot, reason: str) -> None:
        key = keys.refusals(snap.run_id, snap.attempt)
        await self.redis.hset(key, self.name, reason[:500])
        await self.redis.expire(key, keys.LEFTOVER_SECONDS)
        if (snap.run_id, snap.attempt) not in self._refused:
            log.warning("worker %s refused run %s: %s", self.name, snap.run_id, reason)
        self._refused[(snap.run_id, snap.attempt)] = (time.monotonic(), reason)
        # Due again at a random moment, which this worker leaves to the others.
        await self.queue.fail(job, f"worker {self.name}: {reason}"[:1000],
                              retry_at=time.time() + REFUSE_AGAIN_SECONDS
                              * random.uniform(0.5, 1.5))
        self._claim_after = time.monotonic() + REFUSE_AGAIN_SECONDS * random.uniform(1.5, 2)

    # -- one run ----------------------------------------------------------------------------

    async def _execute(self, run: _Run) -> None:
        snap = run.snap
        try:
            try:
                run.checkout = await self.code.prepare(
                    snap.project, Source.from_payload(snap.source), snap.run_id,
                    snap.start_sha or snap.base_sha or snap.base_branch or "HEAD")
            except GluonError as exc:
                await self.leases.release(run.lease)
                await self._refuse(run.job, snap, str(exc))
                return
            await self._start(run)
            assert run.agent is not None
            await asyncio.wait({run.agent})
            await self._end(run)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s: run %s failed here; it is handed over", self.name,
                          snap.run_id)
            await self._give_back(run)
        finally:
            for task in (*run.helpers, run.agent):
                if task is not None and not task.done():
                    task.cancel()
            self.runs.pop(snap.run_id, None)
            self._wake.set()

    async def _start(self, run: _Run) -> None:
        snap, checkout = run.snap, run.checkout
        assert checkout is not None
        if self._stopping:
            raise asyncio.CancelledError
        progress = await link.hgetall(self.redis, keys.progress(snap.run_id))
        earlier = json.loads(progress["row"]) if progress.get("row") and \
            progress.get("attempt") == str(snap.attempt) else {}
        restored = await session_ship.restore(
            self.blobs, snap.run_id, home=self.config.agent_homes_dir / snap.run_id,
            cwd=checkout.worktree, fence=run.lease.fence)
        if restored is not None:
            log.info("run %s: session %s restored from the worker before", snap.run_id,
                     restored.session_id)
        if snap.session_started or earlier.get("session_started"):
            snap = snap.model_copy(update={"fork_from": None})  # a fork that has forked
        elif restored is None and snap.fork_from and snap.parent_id:
            await self._fork_session(snap, checkout.worktree)
        after = await self.replica.events.last_seq()
        local = await self.replica.adopt(snap, checkout.repo, checkout.worktree, earlier,
                                         self.name)
        relay = run.relay = RunRelay(self.redis, self.name, run.lease, snap.attempt,
                                     self.replica, events_after=after, rules=snap.tool_rules)
        await relay.send(EntryType.CLAIMED, {"attempt": snap.attempt})
        log.info("worker %s runs run %s (attempt %d, fence %d)", self.name, snap.run_id,
                 snap.attempt, run.lease.fence)
        await self._replay(run, relay, local)
        run.helpers = [
            asyncio.create_task(relay.run(), name=f"relay-{snap.run_id}"),
            asyncio.create_task(CommandInbox(self.redis, self.replica, relay).run(),
                                name=f"inbox-{snap.run_id}"),
            asyncio.create_task(self._push_turns(run), name=f"push-{snap.run_id}")]
        run.agent = asyncio.create_task(await self.replica.runs.launch(local),
                                        name=f"run-{snap.run_id}")

    async def _replay(self, run: _Run, relay: RunRelay, local: Run) -> None:
        """Taking the run over: the steers an earlier worker gave its agent that the restored
        session does not hold go to this agent with its first message (see
        :mod:`core.cluster.transfer.replay`); coming through the command stream again, they count as
        applied."""
        home = self.config.agent_homes_dir / local.id
        replayed = await replay.take_over(
            self.redis, local.id, attempt=run.snap.attempt,
            transcript=session_ship.find_transcript(home, local.session_id))
        relay.forwarded.update(dict.fromkeys(replayed.ids))
        if not replayed.texts:
            return
        hidden = await self.replica.store.hidden(local.id)
        message = hidden["pending_prompt"] or (RESTART_PROMPT if local.session_started
                                               else local.prompt)
        await self.replica.store.update(local.id,
                                        pending_prompt=replay.prompt(message, replayed.texts))
        log.info("run %s: %d message(s) sent to its agent on the worker before are given to "
                 "it again", local.id, len(replayed.texts))

    async def _fork_session(self, snap: RunSnapshot, worktree: Path) -> None:
        """A fork starts from its parent's session, as its parent's worker last shipped it:
        written into the fork's agent home, where the CLI forks it."""
        assert snap.fork_from is not None and snap.parent_id is not None
        copied = await session_ship.copy(
            self.blobs, snap.parent_id, snap.fork_from,
            home=self.config.agent_homes_dir / snap.run_id, cwd=worktree)
        if copied is not None:
            log.info("run %s forks session %s of run %s", snap.run_id, copied.session_id,
                     snap.parent_id)
        elif not (self.config.agent_homes_dir / snap.parent_id).is_dir():
            log.warning("run %s forks run %s, whose session no worker shipped: its agent "
                        "starts without the parent's conversation", snap.run_id,
                        snap.parent_id)

    async def _push_turns(self, run: _Run) -> None:
        """After every turn the branch goes to the source and the session to Redis, so a
        worker taking the run over starts from the last turn's work, in the same session."""
        bus = self.replica.bus
        with bus.subscribe(lambda e: e.run_id == run.snap.run_id
                           and isinstance(e, TurnFinished)) as turns:
            while True:
                await turns.get()
                await self._push(run)

    async def _push(self, run: _Run) -> None:
        """The run's branch to its source, its session to Redis; another worker that took
        the run over has newer ones: then this worker has lost the run."""
        async with run.pushing:
            checkout = run.checkout
            if run.lost is not None or checkout is None:
                return
            run_id = run.snap.run_id
            try:
                await self.code.publish(checkout)
                session = (await self.replica.store.get(run_id)).session_id
                home = self.config.agent_homes_dir / run_id
                # Read before the ship, so it holds nothing the ship does not: the CLI may
                # write the next turn's first message meanwhile.
                before = await asyncio.to_thread(
                    replay.read, session_ship.find_transcript(home, session))
                if await session_ship.ship(self.blobs, run_id, session, home=home,
                                           cwd=checkout.worktree, fence=run.lease.fence):
                    await replay.trim(self.redis, run_id, fence=run.lease.fence,
                                      shipped=before)
            except (BranchMoved, LeaseLost) as exc:
                self._lose(run, f"lost run {run_id} to another worker ({exc}): stopped")
            except GluonError as exc:
                log.warning("run %s: %s", run_id, exc)

    async def _end(self, run: _Run) -> None:
        """The run's agent stopped: report the end, or hand the run over, or (lost) nothing."""
        for task in run.helpers:
            task.cancel()
        for task in run.helpers:
            with contextlib.suppress(BaseException):
                await task
        if run.lost is not None:
            return
        if self._stopping:
            await self._give_back(run)
            return
        relay = run.relay
        assert relay is not None
        await self._push(run)
        if run.lost is not None:
            return
        await relay.flush(final=True)
        state = (await self.replica.store.get(run.snap.run_id)).state
        await relay.send(EntryType.ENDED, {"state": str(state)})
        with contextlib.suppress(LeaseLost):
            await self.queue.ack(run.job)
        await self.leases.release(run.lease)
        if run.checkout is not None:
            with contextlib.suppress(GluonError):
                await self.code.release(run.checkout)
        log.info("worker %s is done with run %s (%s)", self.name, run.snap.run_id, state)

    async def _give_back(self, run: _Run) -> None:
        """Hand the run over to another worker at once: its work pushed, its progress kept,
        its lease and job freed."""
        if run.lost is not None:
            return
        with contextlib.suppress(*_UNREACHABLE, GluonError):
            await self._push(run)
            if run.relay is not None:
                await run.relay.save_progress()
            await self.leases.release(run.lease)
            await self.queue.release(run.job)
            log.info("worker %s handed run %s over", self.name, run.snap.run_id)

    async def _hand_over(self) -> None:
        """Stopping: stop every agent here and hand each run over."""
        runs = list(self.runs.values())
        for run in runs:
            for task in run.helpers:
                task.cancel()
            if run.agent is not None:
                run.agent.cancel()
        tasks = {run.task for run in runs if run.task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=HANDOVER_SECONDS)
