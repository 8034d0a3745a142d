"""A worker's own data dir: its database holds a copy of each run it executes (made from the
coordinator's snapshot), and its run manager runs them with the same supervisor as
``gluon serve`` does: worktree, sandbox, clean environment, questions and permissions.

The copy is the worker's working record: its transitions, log lines, questions and costs are
what the worker's relay reads and sends to the coordinator, which keeps the record people see.
A turn its agent ends well ends the attempt here: the coordinator's follow-up hooks decide
what follows it (:meth:`Replica._hand_back`).
A worker takes no runs from its own queue: it launches each run it took from the cluster.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from core.access.activity import ActivityLog
from core.access.store import AccessStore
from core.agent.session import AgentResult, AgentRunner, SdkRunner
from core.budget.store import BudgetStore
from core.cluster.wire import RunSnapshot
from core.config import Config
from core.events.bus import EventBus
from core.events.log import EventLog
from core.events.store import EventStore
from core.jobs import JobQueue, SqliteJobQueue
from core.models import Project, Run
from core.projects.service import ProjectService
from core.projects.store import ProjectStore
from core.runs import follow_ups
from core.runs.command_store import CommandStore
from core.runs.follow_ups import Finish
from core.runs.interaction_store import InteractionStore
from core.runs.service import RunManager
from core.runs.store import RunStore
from core.runtime import DataDirLock
from core.store.db import Database
from core.types import ProjectName, RunState

# What a worker taking a run over needs from the worker before it (see
# core.cluster.on_worker.worker).
PROGRESS = ("session_id", "session_started", "pending_prompt", "session_cost_usd", "cost_usd",
            "turns", "tool_calls", "input_tokens", "output_tokens")


def worker_config(config: Config) -> Config:
    """A worker's configuration: as many runs at once as ``worker.max_runs``, and neither warm
    agents nor spare worktrees (its runs come from anywhere, at any base)."""
    agents = config.agents.model_copy(update={
        "max_concurrent": config.worker.max_runs,
        "max_concurrent_per_project": config.worker.max_runs, "warm": 0,
        "spare_worktrees": 0})
    return config.model_copy(update={"agents": agents})


class Replica:
    def __init__(self, config: Config, *, runner: AgentRunner | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.config = config
        self.lock = DataDirLock(config.home)
        self.db = Database(config.db_path)
        self.bus = EventBus()
        self.events = EventLog(EventStore(self.db), self.bus)
        activity = ActivityLog(AccessStore(self.db))
        self.store = RunStore(self.db, self.bus)
        self.projects = ProjectService(ProjectStore(self.db, self.store), activity)
        self.command_store = CommandStore(self.db)
        self.runs = RunManager(config, self.store, self.bus, self.projects,
                               runner or SdkRunner(), activity,
                               interactions=InteractionStore(self.db),
                               commands=self.command_store, budget=BudgetStore(self.db),
                               environ=environ, events=self.events)
        self.runs.follow_ups.append(self._hand_back)
        self._queue: JobQueue | None = None
        self._open = False

    async def _hand_back(self, run: Run, result: AgentResult) -> Finish:
        """The one follow-up hook of a worker: every turn its agent ends well goes back to the
        coordinator, whose hooks (gates, formulas, loops) decide what follows; the attempt
        ends here, the turn's result on the run."""
        await self.store.update(run.id, turn_result=follow_ups.encode(result))
        return Finish(RunState.QUEUED, follow_ups.HANDED_BACK)

    async def open(self) -> Replica:
        self.lock.acquire()
        try:
            for sub in ("logs", "worktrees", "agent-homes", "launchers", "repos"):
                (self.config.home / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(self.config.home, 0o700)
            await self.db.open()
            # Nothing is ever enqueued here; the run manager wants a queue to start.
            self._queue = await SqliteJobQueue(self.db).open()
            await self.runs.start(self._queue, resume_interrupted=False)
            live = [RunState.QUEUED, RunState.RUNNING, RunState.WAITING]
            for run in await self.store.find(states=live, limit=10_000):
                # Live here when the worker last stopped: another worker has them now.
                await self.store.transition(run.id, RunState.INTERRUPTED,
                                            "the worker stopped while the run was live")
        except BaseException:
            await self.runs.close()
            await self.db.close()
            self.lock.release()
            raise
        self._open = True
        return self

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            await self.runs.close()
        finally:
            if self._queue is not None:
                await self._queue.close()
            await self.db.close()
            self.lock.release()

    async def adopt(self, snap: RunSnapshot, repo: Path, worktree: Path,
                    progress: dict[str, Any], worker: str) -> Run:
        """The worker's copy of a run it takes, made afresh from the snapshot and, when an
        earlier worker had the same attempt, what that worker got to (``progress``)."""
        await self.projects.store.mirror(Project(
            name=ProjectName(snap.project), path=str(repo), trusted=snap.trusted,
            created_at=time.time()))
        for rule in snap.tool_rules:
            await self.projects.store.allow(snap.project, rule)
        with_progress = {**snap.model_dump(), **{k: progress[k] for k in PROGRESS
                                                 if k in progress}}
        await self.store.forget(snap.run_id)  # taken again: the snapshot is newer
        return await self.store.insert(
            id=snap.run_id, project=snap.project, prompt=snap.prompt, model=snap.model,
            use_worktree=1, cwd=str(worktree), branch=snap.branch,
            base_branch=snap.base_branch, base_sha=snap.base_sha,
            session_id=with_progress["session_id"],
            session_started=int(bool(with_progress["session_started"])),
            fork_from=snap.fork_from, pending_prompt=with_progress["pending_prompt"],
            budget_usd=snap.budget_usd, created_by=snap.created_by,
            created_at=snap.created_at, cost_usd=with_progress["cost_usd"],
            session_cost_usd=with_progress["session_cost_usd"],
            turns=with_progress["turns"], tool_calls=with_progress["tool_calls"],
            input_tokens=with_progress["input_tokens"],
            output_tokens=with_progress["output_tokens"], source="cluster",
            state_reason=f"taken by worker {worker}")

    async def progress(self, run_id: str) -> str:
        """What a worker taking the run over must know, as JSON."""
        run = await self.store.get(run_id)
        hidden = await self.store.hidden(run_id)
        row = {**run.model_dump(mode="json"), **hidden}
        return json.dumps({k: row[k] for k in PROGRESS})
