"""The core runtime: every core service over one data dir, and the lock that makes it the only
run manager on that data dir.

It opens the database (the one module outside the stores that does) and builds each service on
its store. A package outside core that owns tables (chat) declares its :class:`TableSet` here:
``open`` applies its migrations with core's, all or nothing, and :meth:`Runtime.tables` hands
its store the narrow :class:`core.tables.Tables`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from core.access.activity import ActivityLog
from core.access.store import AccessStore
from core.access.users import Access
from core.access.web import WebAccess
from core.access.web_store import WebStore
from core.agent.session import AgentResult, AgentRunner, SdkRunner
from core.attention import Attention
from core.budget.migrations import BUDGET_TABLES
from core.budget.store import BudgetStore
from core.cluster.on_coordinator.migrations import CLUSTER_TABLES
from core.cluster.on_coordinator.store import ClusterStore
from core.config import Config
from core.errors import Conflict
from core.events.bus import EventBus
from core.events.log import EventLog
from core.events.store import EventStore
from core.formulas import FORMULA_TABLES, Formulas, FormulaStore
from core.gates.migrations import GATE_TABLES
from core.gates.service import Gates
from core.gates.store import GateStore
from core.github.migrations import GITHUB_TABLES
from core.github.service import GitHubHooks
from core.github.store import GitHubStore
from core.hooks.generic import GenericHooks
from core.hooks.migrations import HOOK_TABLES
from core.hooks.service import Webhooks
from core.hooks.store import DeliveryStore
from core.jobs import Clock, JobQueue, open_job_queue
from core.loops.migrations import LOOP_TABLES
from core.loops.service import Loops
from core.loops.store import LoopStore
from core.merges.forecast import Forecast
from core.merges.migrations import MERGE_TABLES
from core.merges.service import MergeQueue
from core.merges.store import MergeStore
from core.models import Run
from core.projects.service import ProjectService
from core.projects.store import ProjectStore
from core.runs.command_store import CommandStore
from core.runs.files import RunFiles
from core.runs.follow_ups import Finish, FollowUp
from core.runs.interaction_store import InteractionStore
from core.runs.review import Review
from core.runs.service import RunManager
from core.runs.store import RunStore
from core.runs.work_queue import WorkQueue
from core.schedules.migrations import SCHEDULE_TABLES
from core.schedules.service import Fire, Schedules
from core.schedules.store import ScheduleStore
from core.store.db import Database
from core.tables import Tables, TableSet
from core.voice.service import Voice
from core.witness import WITNESS_TABLES, Witness, WitnessStore


class DataDirLock:
    """An exclusive ``flock`` on ``<home>/gluon.lock``; released when the process dies."""

    def __init__(self, home: Path) -> None:
        self.path = home / "gluon.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = self.path.read_text().strip() or "another process"
            raise Conflict(f"the data dir {str(self.path.parent)!r} is in use by pid {owner}; "
                           "talk to that Gluon, or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Runtime:
    """Opens the store, recovers runs and owns the run manager until closed."""

    def __init__(self, config: Config, *, runner: AgentRunner | None = None,
                 environ: dict[str, str] | None = None,
                 tables: Sequence[TableSet] = (), clock: Clock | None = None) -> None:
        """``tables``: the table sets of the packages outside core that this process runs
        (the chat layer's), migrated when the runtime opens; ``clock``: the schedules' (a
        test moves it by hand)."""
        self.config = config
        self.lock = DataDirLock(config.home)
        self.db = Database(config.db_path)
        self.table_sets = tuple(tables)
        self.bus = EventBus()
        self.events = EventLog(EventStore(self.db), self.bus)  # the durable log, read from cursors
        access = AccessStore(self.db)
        self.activity = ActivityLog(access)
        runs = RunStore(self.db, self.bus)  # publishes each state change once it is stored
        self.projects = ProjectService(ProjectStore(self.db, runs), self.activity)
        self.runs = RunManager(config, runs, self.bus, self.projects, runner or SdkRunner(),
                               self.activity, interactions=InteractionStore(self.db),
                               commands=CommandStore(self.db), budget=BudgetStore(self.db),
                               environ=environ, events=self.events)
        self.review = Review(self.runs)
        self.files = RunFiles(runs, self.projects)  # a run's files, from its worktree or branch
        # Which runs change the same files (its loop runs in the daemon).
        self.forecast = Forecast(self.runs, self.events)
        self.work = WorkQueue(runs, self.runs.gate, lambda: self.runs.executor, self.activity,
                              self.runs.cancel)
        self.schedules = Schedules(ScheduleStore(self.db), runs, self.projects, self.activity,
                                   self._fire, clock)
        self.runs.gate.checks.append(self.schedules.hold)
        self.access = Access(access, self.activity, {
            "telegram": config.telegram.roles(), "discord": config.discord.roles()})
        self.web = WebAccess(WebStore(self.db), self.access, self.activity, config.web)
        deliveries = DeliveryStore(self.db)
        self.github = GitHubHooks(config, GitHubStore(self.db), deliveries, self.runs,
                                  self.projects, self.access, self.events, self.bus)
        self.hooks = Webhooks(config, deliveries, self.github,
                              GenericHooks(config, deliveries, self.runs, self.projects),
                              self.events)
        self.merges = MergeQueue(config, MergeStore(self.db), self.runs, self.review,
                                 self.events, self.bus, self.activity, self.github.client,
                                 self.github.repos)
        self.loops = Loops(config, LoopStore(self.db), self.runs, self.events)
        self.formulas = Formulas(config, FormulaStore(self.db), self.runs, self.projects,
                                 self.runs.usage.settings, self.events)
        # Lint and tests after a run's work (core/gates).
        self.gates = Gates(config, GateStore(self.db), self.runs, self.events)
        # How each live run is doing, and what its project's policy does about it.
        self.witness = Witness(config, WitnessStore(self.db), self.runs, self.events, self.bus)
        self.attention = Attention(self.runs, self.merges, self.witness)  # what needs a person
        self.runs.follow_ups.append(self._after_turn)
        self.cluster_store = ClusterStore(self.db)
        # With [cluster] redis_url: the workers' registry, and runs dispatched to workers.
        self.cluster: Cluster | None = None
        if config.cluster.redis_url:
            from core.cluster.on_coordinator.coordinator import (
                Cluster,  # redis: the `gluon[cluster]` extra
            )

            self.cluster = Cluster(config, self.runs, self.cluster_store,
                                   coordinator_url=self._served_at)
        self.voice = Voice(config.voice, config.home, self.runs.usage)  # voice notes in chat
        self.queue: JobQueue | None = None
        self._open = False

    async def _after_turn(self, run: Run, result: AgentResult) -> FollowUp | Finish | None:
        """What a run goes on with when its agent ended a turn well (core.runs.follow_ups):
        the quality gates after a standard step or run, then the formula's next step, then
        the autonomous loop's next iteration."""
        if await self.formulas.profile(run) == "standard":
            answer = await self.gates.after_turn(run, result)
            if answer is not None:
                return answer
        answer = await self.formulas.after_turn(run, result)
        if answer is not None:
            return answer
        return await self.loops.after_turn(run, result)

    def _served_at(self) -> str:
        """Where other hosts reach this Gluon: web.public_url, else where it listens."""
        server = self.config.server
        return self.web.base_url or f"http://{server.host}:{server.port}"

    async def _fire(self, fire: Fire) -> Run:
        """A schedule's run: queued under the fire's key, as the schedule's author."""
        s = fire.schedule
        return await self.runs.start_run(s.project, s.prompt, model=s.model,
                                         actor=s.created_by, priority=s.priority,
                                         key=fire.key, source="cron", adopt=False)

    async def open(self, *, resume_interrupted: bool = True) -> Runtime:
        self.lock.acquire()
        try:
            for sub in ("logs", "worktrees", "agent-homes", "launchers"):
                (self.config.home / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(self.config.home, 0o700)
            await self.db.open([HOOK_TABLES, GITHUB_TABLES, SCHEDULE_TABLES, MERGE_TABLES,
                                LOOP_TABLES, FORMULA_TABLES, GATE_TABLES, WITNESS_TABLES,
                                BUDGET_TABLES, CLUSTER_TABLES, *self.table_sets])
            # A Redis that does not answer stops only what needs the queue (see executor.py).
            self.queue = await open_job_queue(self.config, self.db, require=False)
            await self.runs.start(self.queue, resume_interrupted=resume_interrupted)
            if self.cluster is not None:
                self.cluster.start()
            await self.merges.start(resume=resume_interrupted)
            await self.witness.start()
        except BaseException:
            await self.witness.close()
            await self.merges.close()
            await self._close_cluster()
            await self._close_queue()
            await self.db.close()
            self.lock.release()
            raise
        self._open = True
        return self

    def tables(self, table_set: TableSet) -> Tables:
        """The door to a declared table set's tables, for its package's store."""
        assert table_set in self.table_sets, (
            f"the tables recorded in {table_set.record} were not declared to this Runtime "
            "(Runtime(config, tables=[...]))")
        return self.db

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            await self.witness.close()
            await self.merges.close()
            await self.runs.close()
        finally:
            await self._close_cluster()
            await self.voice.close()
            await self.github.client.close()
            await self._close_queue()
            await self.db.close()
            self.lock.release()

    async def _close_cluster(self) -> None:
        if self.cluster is not None:
            await self.cluster.close()

    async def _close_queue(self) -> None:
        if self.queue is not None:
            queue, self.queue = self.queue, None
            await queue.close()

    async def __aenter__(self) -> Runtime:
        return await self.open()

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
