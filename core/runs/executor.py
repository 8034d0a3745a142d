"""The executor: claims run start jobs from the job queue, passes them through the gate and
hands each run to its supervisor (DESIGN §3, §8).

**Producing.** Starting, resuming, forking or recovering a run queues it (the run's state) and
enqueues a ``run.start`` job ``{"run_id", "attempt"}`` under the key
``run.start:<run id>:<attempt>``, where the attempt is how many times the run has been queued.
Enqueueing is idempotent by that key, so a replay adds nothing; every producer (chat, CLI, MCP,
later schedules and webhooks) reaches this through :class:`~core.runs.service.RunManager`.
Recovered runs are enqueued with :data:`RECOVERED_PRIORITY`, so they start again before runs
queued while they were live; every other run has priority 0.

**Claiming (the coordinator, ``gluon serve``).** The executor claims while fewer runs are live
here than the global limit. A claimed job whose run is

- gone, ended, or already live here (a replayed job) is acked and changes nothing, so a job
  delivered twice never starts a second agent;
- live in the database but executing on a ``gluon worker`` (``reattach`` says so): launched
  again, to be watched until its worker is done with it (a coordinator that restarted);
- live in the database but not here (running, waiting) or interrupted by Gluon stopping: its
  executor died and its lease ran out (or was let run out at start, below). The run manager
  recovers it (``agents.recovery``): interrupted, then queued again as a new attempt;
- queued: it meets the gate (:mod:`core.runs.gate`). Passed, the run goes to its supervisor
  and holds the job's lease while it is live; when its supervisor ends, the job is acked. Not
  passed (its project is at its limit, a budget is spent, a breaker is open), the job is held,
  lease renewed, in the order it was claimed, and the held jobs are looked at first on every
  pass. So runs start first in, first out within a priority, and a run of another project
  behind a held one still starts when its project has room (claiming goes on past a held job).
  At most :data:`MAX_HELD` jobs are held at once, in claim order (highest priority first).

**Leases.** Every :data:`RENEW_EVERY` seconds the leases of live and held jobs are renewed
(the heartbeat). On close, live runs are stopped (their supervisors record them interrupted)
and every job held here is released, untouched and not counted as a try, for the next start.
After a kill -9 nobody releases them: the next coordinator on the data dir (the data-dir lock
means no other executor of it is alive) first lets every lease of this data dir's workers run
out at once, then makes sure each run that should have a start job has one (a crash between
queuing a run and enqueuing its job); both steps are idempotent, and what to do with each run is
decided when its job is claimed, as above. A job claimed again after its lease ran out counts a
try, and the queue buries a job after ``max_tries``: a queued run held through that many kill -9
restarts in a row stays queued and is reported in the logs.

**A command's own runtime** (no daemon running) claims nothing: it runs the runs it started,
resumed or forked itself, in their queue order, through the same gate, and leaves every job to
the next ``gluon serve``, which acks the jobs of runs that ended and recovers those of a command
that was killed under its run.

**The queue unreachable** (``[cluster] redis_url`` with Redis down): starting a run fails with
one line naming ``cluster.redis_url`` before anything is created; claiming waits and is tried
again every :data:`POLL_SECONDS`; everything else in Gluon goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from core.errors import Conflict, NotFound
from core.jobs import JobId, JobQueue, Lease, LeaseLost, QueueUnavailable
from core.models import Run
from core.runs.gate import Capacity, Gate, Hold
from core.runs.store import RunStore
from core.types import RunState

log = logging.getLogger(__name__)

START = "run.start"
RECOVERED_PRIORITY = 10
LEASE_SECONDS = 60.0
RENEW_EVERY = LEASE_SECONDS / 3
POLL_SECONDS = 2.0
"""How often the executor looks again without being woken (settings, budgets, the queue)."""
MAX_HELD = 1000

Launch = Callable[[Run], Awaitable[Coroutine[Any, Any, None]]]
"""Build a run's supervisor; returns the coroutine that runs it to its end."""
Recover = Callable[[Run], Awaitable[None]]
"""Deal with a run whose executor died (or that Gluon stopped): interrupt it, requeue it."""
Note = Callable[[Run, str], Awaitable[None]]
"""Tell people why a queued run waits (a spent budget, an open breaker)."""
Reattach = Callable[[Run], Awaitable[bool]]
"""Whether a live run found after a restart executes elsewhere (a worker): launched again to
be watched, not recovered."""


def start_key(run_id: str, attempt: int) -> str:
    return f"{START}:{run_id}:{attempt}"


def worker_prefix(home: str) -> str:
    """The names of the executors of one data dir start with this."""
    return f"serve/{hashlib.sha256(home.encode()).hexdigest()[:12]}/"


@dataclass
class _Live:
    project: str
    lease: Lease | None  # None in a command's own runtime, which claims nothing
    task: asyncio.Task[None] | None = None


class Executor:
    def __init__(self, queue: JobQueue, store: RunStore, gate: Gate, *, home: str,
                 launch: Launch, recover: Recover, note: Note,
                 reattach: Reattach | None = None) -> None:
        self.queue = queue
        self.store = store
        self.gate = gate
        self.prefix = worker_prefix(home)
        self.worker = f"{self.prefix}{socket.gethostname()}/{os.getpid()}"
        self._launch_run, self._recover, self._note = launch, recover, note
        self._reattach = reattach
        self.coordinator = True
        self._live: dict[str, _Live] = {}
        self._held: list[Lease] = []
        self._adopted: set[str] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._expired = False  # the leases of a previous process of this data dir ran out
        self._synced = False  # and every run that should have a start job has one
        self._renewed_at = 0.0
        self._unavailable: str | None = None  # the last QueueUnavailable, logged once
        self._closing = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, *, coordinator: bool) -> None:
        self.coordinator = coordinator
        await self.pump()
        self._loop_task = asyncio.create_task(self._loop(), name="gluon-executor")

    async def close(self) -> None:
        """Stop live runs and give every job held here back to the queue (idempotent)."""
        if self._closing:
            return
        self._closing = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(BaseException):
                await self._loop_task
        async with self._lock:
            tasks = [live.task for live in self._live.values() if live.task is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:  # each releases its own lease when it ends (see _supervise)
                with contextlib.suppress(BaseException):
                    await task
            # A run whose task was cancelled before it began still holds its job.
            held = [live.lease for live in self._live.values() if live.lease is not None]
            held += self._held
            self._live.clear()
            self._held = []
            for lease in held:
                await self._settle(lease, release=True)

    def wake(self) -> None:
        self._wake.set()

    def is_live(self, run_id: str) -> bool:
        return run_id in self._live

    def live_projects(self) -> list[str]:
        """The project of each run live here (one entry per run)."""
        return [live.project for live in self._live.values()]

    async def finished(self, run_id: str) -> None:
        """Return once this process is done with the run: its supervisor ended and its start
        job was acked."""
        live = self._live.get(run_id)
        if live is not None and live.task is not None:
            await asyncio.wait({live.task})

    # -- producing --------------------------------------------------------------------------

    async def check(self) -> None:
        """QueueUnavailable (one line naming cluster.redis_url) when a run cannot be queued."""
        await self.queue.ping()

    async def submit(self, run_id: str, *, priority: int = 0,
                     not_before: float | None = None, adopt: bool = True) -> None:
        """Enqueue the start job of the run's current attempt (idempotent), due at
        ``not_before``. With ``adopt``, the run runs in this process even when it is a
        command's own runtime; without, such a runtime leaves it to ``gluon serve``."""
        if adopt:
            self._adopted.add(run_id)
        attempt = await self.store.times_queued(run_id)
        job_id = await self.queue.enqueue(START, {"run_id": run_id, "attempt": attempt},
                                          key=start_key(run_id, attempt), priority=priority,
                                          not_before=not_before)
        await self.store.update(run_id, start_job=job_id)

    async def reprioritize(self, run_id: str, job_id: JobId, priority: int) -> None:
        """Move a queued run's start job to ``priority``: a job held here goes back to the
        queue first. Conflict when the run has started meanwhile."""
        async with self._lock:
            if run_id in self._live:
                raise Conflict(f"run {run_id!r} has started; it is no longer in the queue")
            for lease in [held for held in self._held if held.job_id == job_id]:
                self._held.remove(lease)
                await self.queue.release(lease)
            await self.queue.reprioritize(job_id, priority)
        self.wake()

    def adopt(self, run_id: str) -> None:
        """Run this queued run here (a command's own runtime takes on a run left queued)."""
        self._adopted.add(run_id)

    # -- claiming ---------------------------------------------------------------------------

    async def pump(self) -> None:
        """Start what may start now. Never raises for a queue that does not answer: that is
        logged once, and the next pass tries again."""
        if self._closing:
            return
        async with self._lock:
            try:
                if self.coordinator:
                    await self._pump_queue()
                else:
                    await self._pump_adopted()
            except QueueUnavailable as exc:
                if str(exc) != self._unavailable:
                    log.warning("runs cannot be claimed: %s", exc)
                self._unavailable = str(exc)
                self._synced = False
                return
        if self._unavailable is not None:
            log.info("the job queue answers again")
            self._unavailable = None

    async def _pump_queue(self) -> None:
        if not self._synced:
            await self._sync()
        cap = await self.gate.capacity(live.project for live in self._live.values())
        for lease in list(self._held):
            run = await self._run_of(lease)
            if run is None or run.state is not RunState.QUEUED or run.id in self._live:
                self._held.remove(lease)
                await self._settle(lease)
            elif await self._admit(run, cap) is None:
                self._held.remove(lease)
                await self._start(run, lease, cap)
        while not cap.full and len(self._held) < MAX_HELD:
            claimed = await self.queue.claim(self.worker, lease_seconds=LEASE_SECONDS)
            if claimed is None:
                return
            await self._take(claimed, cap)

    async def _take(self, lease: Lease, cap: Capacity) -> None:
        run = await self._run_of(lease)
        if run is None:
            await self._settle(lease)
            return
        live = self._live.get(run.id)
        if live is not None:
            if live.lease is not None and live.lease.job_id == lease.job_id:
                live.lease = lease  # its own job, taken back after the lease ran out here
            else:
                await self._settle(lease)  # a replay: the run is running already
            return
        if run.state in (RunState.RUNNING, RunState.WAITING) and self._reattach is not None \
                and await self._reattach(run):
            await self._start(run, lease, cap)
        elif run.state in (RunState.RUNNING, RunState.WAITING, RunState.INTERRUPTED):
            await self._recover(run)
            await self._settle(lease)
        elif run.state is not RunState.QUEUED:
            await self._settle(lease)
        elif await self._admit(run, cap) is None:
            await self._start(run, lease, cap)
        else:
            # Held already (its lease ran out here while Redis did not answer): keep its place.
            same = [i for i, held in enumerate(self._held) if held.job_id == lease.job_id]
            if same:
                self._held[same[0]] = lease
            else:  # behind the held jobs of its priority and above
                at = next((i for i, held in enumerate(self._held)
                           if held.priority < lease.priority), len(self._held))
                self._held.insert(at, lease)

    async def _pump_adopted(self) -> None:
        cap = await self.gate.capacity(live.project for live in self._live.values())
        now = time.time()
        for run in await self.store.queued():
            if cap.full:
                return
            if run.id in self._live or run.id not in self._adopted or (
                    run.not_before is not None and run.not_before > now):
                continue
            if await self._admit(run, cap) is None:
                await self._start(run, None, cap)

    async def _admit(self, run: Run, cap: Capacity) -> Hold | None:
        hold = await self.gate.hold(run, cap)
        if hold is not None and hold.noted and run.state_reason != f"waiting: {hold.reason}":
            await self._note(run, f"waiting: {hold.reason}")
        return hold

    async def _start(self, run: Run, lease: Lease | None, cap: Capacity) -> None:
        cap.take(run.project)
        live = self._live[run.id] = _Live(run.project, lease)
        try:
            work = await self._launch_run(run)
        except BaseException:
            del self._live[run.id]
            raise
        live.task = asyncio.create_task(self._supervise(run.id, work), name=f"run-{run.id}")

    async def _supervise(self, run_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            # Settled before the run leaves `_live`, so `finished` waits for the ack too.
            live = self._live.get(run_id)
            try:
                if live is not None and live.lease is not None:
                    # Stopped by Gluon closing: the job goes back, for the next start to recover.
                    await asyncio.shield(self._settle(live.lease, release=self._closing))
            finally:
                self._live.pop(run_id, None)
                if not self._closing:
                    await asyncio.shield(self._next_attempt(run_id))
                self.wake()

    async def _next_attempt(self, run_id: str) -> None:
        """A run its supervisor left queued (parked until a usage limit resets) gets the start
        job of its next attempt, due when the run may start. (Should that fail, the next
        pass after the queue answers again gives it one.)"""
        try:
            run = await self.store.get(run_id)
            if run.state is RunState.QUEUED:
                await self.submit(run.id, priority=run.priority, not_before=run.not_before)
        except (NotFound, QueueUnavailable) as exc:
            log.warning("the next start of run %s: %s", run_id, exc)
            self._synced = False

    async def _settle(self, lease: Lease, *, release: bool = False) -> None:
        """Ack (or release) a job, logging rather than raising when that is not possible."""
        try:
            await (self.queue.release(lease) if release else self.queue.ack(lease))
        except (LeaseLost, QueueUnavailable) as exc:
            log.warning("job %s of run %s: %s", lease.job_id, lease.payload.get("run_id"), exc)

    async def _run_of(self, lease: Lease) -> Run | None:
        run_id = lease.payload.get("run_id")
        if lease.kind != START or not isinstance(run_id, str):
            log.warning("job %s is not a run start (%s %r); dropped", lease.job_id, lease.kind,
                        lease.payload)
            return None
        try:
            return await self.store.get(run_id)
        except NotFound:
            return None

    async def _sync(self) -> None:
        """After a restart: no earlier executor of this data dir is alive, so its leases run
        out now; and every run that should have a start job gets one (idempotent)."""
        if not self._expired:  # only at the start: later, the leases here are our own
            expired = await self.queue.expire(self.prefix)
            self._expired = True
            if expired:
                log.info("%d job leases of a previous Gluon ran out", expired)
        states = [RunState.QUEUED, RunState.RUNNING, RunState.WAITING, RunState.INTERRUPTED]
        for run in reversed(await self.store.find(states=states, limit=100_000)):
            await self.submit(run.id, priority=run.priority, not_before=run.not_before)
        self._synced = True

    # -- the heartbeat ----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if time.monotonic() - self._renewed_at >= RENEW_EVERY:
                    await self._renew()
                await self.pump()
            except Exception:
                log.exception("the executor's pass failed; it tries again")

    async def _renew(self) -> None:
        async with self._lock:
            try:
                for live in self._live.values():
                    if live.lease is not None:
                        try:
                            live.lease = await self.queue.renew(live.lease)
                        except LeaseLost as exc:  # only another executor could have taken it
                            log.error("the lease of a live run: %s", exc)
                            live.lease = None
                held: list[Lease] = []
                for lease in self._held:
                    try:
                        held.append(await self.queue.renew(lease))
                    except LeaseLost as exc:
                        log.warning("a held run start: %s", exc)
                self._held = held
            except QueueUnavailable as exc:
                log.warning("leases cannot be renewed: %s", exc)
                return
            self._renewed_at = time.monotonic()
