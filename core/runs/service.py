"""The run manager: starts, queues, steers, stops, resumes and forks runs, and recovers them.

One run manager owns a data dir at a time (see :mod:`core.runtime`). Runs reach their agents
through the job queue: starting, resuming, forking and recovering a run enqueue its start job,
and the :class:`~core.runs.executor.Executor` claims it, passes it through the gate and runs the
run's :class:`~core.runs.supervisor.RunSupervisor` task.
Commands to a live run (steer, interrupt, cancel, answers) go through the run's command
channel (:mod:`core.runs.commands`), never straight to its supervisor, so they reach it from
any process; the supervisor reaches this manager through :class:`~core.runs.port.SupervisorPort`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from core.access.activity import ActivityLog
from core.agent import sandbox
from core.agent.redact import Redactor, model_secrets, secret_values
from core.agent.session import AgentRunner, AgentSpec
from core.agent.setup import AgentSetup
from core.agent.warm import WarmAgents
from core.budget.settings import project_budget_key
from core.budget.store import BudgetStore
from core.budget.usage import Usage
from core.config import Config, resolve_model
from core.errors import Conflict, InvalidInput
from core.events.bus import EventBus, RunNote
from core.events.log import EventLog
from core.git import ops as gitops
from core.git import worktrees as git_worktrees
from core.git.worktree_pool import WorktreePool
from core.jobs import JobQueue
from core.models import Interaction, Project, Run
from core.projects.service import ProjectService
from core.runs import overflow, workplace
from core.runs.command_store import CommandStore
from core.runs.commands import CommandChannel, CommandKind, SqliteCommandChannel, until_ended
from core.runs.executor import RECOVERED_PRIORITY, Executor
from core.runs.follow_ups import FollowUpHook
from core.runs.gate import Gate
from core.runs.images import AgentImages
from core.runs.interaction_store import InteractionStore
from core.runs.interactions import Interactions
from core.runs.prompts import RESTART_PROMPT, start_message, with_undelivered
from core.runs.prompts import next_prompt as _next_prompt
from core.runs.remote import RemoteExecution
from core.runs.requests import StartRequest
from core.runs.store import RunEvent, RunStore
from core.runs.supervisor import RunSupervisor
from core.runs.uploads import attached_files, stage_attachments, unstage_attachments
from core.text_input import check_all, check_optional, check_text
from core.types import InteractionKind, RunState

log = logging.getLogger(__name__)

STOPPED_BY_GLUON = "Gluon stopped"
# A new spare worktree is made this long after a run's agent started, not to slow that start.
SPARE_REFILL_DELAY = 1.0
CANCEL_TIMEOUT = 120.0
"""Seconds a cancel waits for the run's agent to stop."""


class RunManager:
    def __init__(self, config: Config, store: RunStore, bus: EventBus,
                 projects: ProjectService, runner: AgentRunner, activity: ActivityLog, *,
                 interactions: InteractionStore, commands: CommandStore, budget: BudgetStore,
                 environ: dict[str, str] | None = None, events: EventLog | None = None) -> None:
        """``store`` publishes each state change on ``bus`` once it is stored; the other
        stores are those of the runs' questions, commands and spending; ``events`` keeps the
        notes said about runs (see :meth:`note`)."""
        self.config = config
        self.bus = bus
        self.events = events
        self.projects = projects
        self.runner = runner
        self.activity = activity
        self.environ = dict(os.environ if environ is None else environ)
        self.store = store
        self.interactions = Interactions(interactions, bus)
        self.commands: CommandChannel = SqliteCommandChannel(commands)
        self.usage = Usage(budget, config)
        self._supervisors: dict[str, RunSupervisor] = {}
        self.gate = Gate(config, self.usage)
        # Asked in order when a turn ends well (formulas, gates, loops: core.runs.follow_ups).
        self.follow_ups: list[FollowUpHook] = []
        self.images = AgentImages(events)  # the agent's screenshots, said after each turn
        self._executor: Executor | None = None
        # Set by the composition root when runs execute on `gluon worker` processes.
        self.remote: RemoteExecution | None = None
        self._remote_live: set[str] = set()  # runs executing on a worker, watched from here
        self._closed = False
        self._reminder: asyncio.Task[None] | None = None
        self.setup = AgentSetup(config, projects, self.environ)
        # What agents send is recorded with the daemon's and the config's secrets masked.
        self.redact = Redactor([*secret_values(self.environ, self.setup.provider_env()),
                                *model_secrets(config)])
        self.pool = WorktreePool(config.worktrees_dir, config.agents.spare_worktrees,
                                 refill_delay=SPARE_REFILL_DELAY)
        # Hands a run the warm agent it claimed, or starts one with `runner`.
        self.runner = self.warm = WarmAgents(config, self.setup, self.pool, runner, self.store,
                                             partial(self.usage.settings.agents, config),
                                             refill_delay=SPARE_REFILL_DELAY)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, queue: JobQueue, *, resume_interrupted: bool) -> None:
        """Start claiming runs from ``queue``: the coordinator (``gluon serve``) recovers runs
        whose executor died, through their start jobs, and works through the whole queue.

        With ``resume_interrupted`` false this is a command's runtime, alive only while one
        command runs because no daemon is: it leaves recovery and the queue to the next
        `gluon serve`, so a read-only command changes nothing, and it runs only the runs
        started, resumed or forked through it. (A run it finds live in the database has no
        agent any more, since this process holds the data dir: a command that acts on such a
        run marks it interrupted first.)
        """
        self._executor = Executor(queue, self.store, self.gate, home=str(self.config.home),
                                  launch=self._launch, recover=self._recover,
                                  note=self._note_waiting, reattach=self._reattach)
        if resume_interrupted:  # the coordinator: what a stopped Gluon was still deleting
            await asyncio.to_thread(git_worktrees.sweep_removed, self.config.worktrees_dir)
        status = sandbox.probe()
        if self.config.agents.sandbox != "off" and not status.available:
            log.warning("SANDBOX: %s (agents.sandbox = %r; see `gluon doctor`)",
                        status.problem, self.config.agents.sandbox)
        for project in await self.projects.all():
            try:
                await self.pool.adopt(project.name, Path(project.path))
            except Exception as exc:
                log.warning("spare worktrees of %s: %s", project.name, exc)
        await self.warm.start()
        self._reminder = asyncio.create_task(self.interactions.remind(
            self.config.agents.remind_after_seconds, self._project_of), name="gluon-reminders")
        await self.executor.start(coordinator=resume_interrupted)

    @property
    def executor(self) -> Executor:
        assert self._executor is not None, "the run manager is not started"
        return self._executor

    async def close(self) -> None:
        """Stop every live agent; their runs become ``interrupted`` and resume next start."""
        if self._closed:
            return
        self._closed = True
        if self._executor is not None:
            await self._executor.close()
        if self._reminder is not None:
            self._reminder.cancel()
            with contextlib.suppress(BaseException):
                await self._reminder
        await self.warm.close()
        await self.pool.close()
        await self.commands.close()

    async def _recover(self, run: Run) -> None:
        """A run whose start job came back to the executor while the run is live in the
        database (its executor died) or was interrupted by Gluon stopping: it becomes
        ``interrupted``, and with ``agents.recovery = "resume"`` it is queued again, ahead of
        the runs queued while it was live."""
        run = await self._interrupt_orphan(run)
        if (run.state is not RunState.INTERRUPTED or self.config.agents.recovery != "resume"
                or not run.state_reason.startswith(STOPPED_BY_GLUON)):
            return
        await self.interactions.expire_for_run(run.id)
        try:
            await self._requeue(run, RESTART_PROMPT, "recovery", keep_place=True,
                                priority=max(run.priority, RECOVERED_PRIORITY))
        except Exception as exc:
            log.warning("could not resume run %s after restart: %s", run.id, exc)

    async def _reattach(self, run: Run) -> bool:
        """A live run whose start job came back after a restart: executing on a worker, it is
        watched again (launched) rather than recovered."""
        return self.remote is not None and await self.remote.executing(run.id)

    async def _note_waiting(self, run: Run, reason: str) -> None:
        """Record why a queued run waits (its place in the queue kept), so people see it."""
        hidden = await self.store.hidden(run.id)
        await self.transition(run.id, RunState.QUEUED, reason[:1000],
                              queued_at=hidden["queued_at"])

    async def _interrupt_orphan(self, run: Run) -> Run:
        """A run recorded as live that has no agent in this process (which holds the data
        dir, so no other can have one): its Gluon died under it."""
        if run.state not in (RunState.RUNNING, RunState.WAITING) or self.is_live(run.id):
            return run
        return await self.transition(run.id, RunState.INTERRUPTED,
                                     f"{STOPPED_BY_GLUON} while the run was live")

    async def _project_of(self, run_id: str) -> str:
        return (await self.store.get(run_id)).project

    # -- state ------------------------------------------------------------------------------

    async def transition(self, run_id: str, new: RunState, reason: str, **fields: Any) -> Run:
        run, old = await self.store.transition(run_id, new, reason, **fields)
        if old is not new:
            log.info("run %s: %s -> %s (%s)", run_id, old, new, reason)
        return run

    # -- starting ---------------------------------------------------------------------------

    async def start_run(self, project: str, prompt: str, *, model: str | None = None,
                        worktree: bool = True, base: str | None = None,
                        budget_usd: float | None = None, actor: str = "cli",
                        attachments: list[str] | None = None, priority: int = 0,
                        not_before: float | None = None, key: str | None = None,
                        source: str = "cli", adopt: bool = True) -> Run:
        """Queue a run (see :mod:`core.runs.requests` for the work-queue parameters): it starts
        when the gate lets it, highest ``priority`` first, not before ``not_before``. A second
        start with the same ``key`` returns the run the first one made and adds nothing.
        Without ``adopt``, a command's own runtime leaves the run to ``gluon serve``."""
        prompt = check_text(prompt, "prompt").strip()
        check_optional(model, "model")
        check_optional(base, "base")
        check_all(attachments or [], "attachments")
        if self.remote is not None and not worktree:
            raise InvalidInput("runs execute on gluon workers (cluster.run_on), each in a "
                               "worktree of its own; drop --no-worktree")
        request = StartRequest.checked(priority, not_before, key, source, time.time())
        if request.key is not None and (made := await self.store.by_key(request.key)):
            return made
        proj = await self.projects.get(project)
        if not prompt:
            raise InvalidInput("the prompt is empty; say what the agent should do")
        files = attached_files(self.config.home, attachments or [], worktree)
        if files:
            names = ", ".join(f"{sandbox.ATTACHMENTS_DIR}/{f.name}" for f in files)
            prompt += f"\n\nFiles sent with this request (not part of the repository): {names}"
        agents = await self.usage.settings.agents(self.config)
        model_id = resolve_model(model, agents.default_model)
        if budget_usd is not None and budget_usd <= 0:
            raise InvalidInput(f"budget {budget_usd!r} must be a positive number of dollars")
        if self.remote is None:  # a worker checks its own credentials and sandbox
            self.setup.check_credentials()
            sandbox.plan(self.config.agents.sandbox)  # refuses when required but unavailable
        await self.usage.check_budgets(proj.name)
        await self.executor.check()
        # A warm agent's worktree holds no attachments: only runs without take one; nor does
        # a run that starts later, nor one a replayed request could make twice.
        where = await workplace.plan(self.config, self.warm, proj, await self.store.new_id(),
                                     worktree=worktree, base=base,
                                     take_warm=not (files or request.later or request.key))
        run_id = where.run_id
        budget = budget_usd if budget_usd is not None else self.config.agents.run_budget_usd
        stage_attachments(self.config.home, run_id, files)
        fields: dict[str, Any] = dict(
            id=run_id, project=proj.name, prompt=prompt, model=model_id,
            use_worktree=int(worktree), cwd=str(where.cwd), branch=where.branch,
            base_branch=where.base,
            # A run that starts later starts from its base branch as it is then.
            base_sha=None if request.later else where.base_sha, session_id=str(uuid.uuid4()),
            budget_usd=budget, created_by=actor, pending_prompt=prompt,
            state_reason=request.reason(actor), priority=request.priority,
            not_before=request.not_before, source=request.source)
        if request.key is None:
            run = await self.store.insert(**fields)
        else:
            run, new = await self.store.insert_keyed(request.key, **fields)
            if not new:
                return run
        await self.activity.record(actor, "run.start", run.id, "ok", f"{proj.name}: {prompt}")
        await self.executor.submit(run.id, priority=run.priority, not_before=run.not_before,
                                   adopt=adopt)
        await self.executor.pump()
        return await self.store.get(run.id)

    async def _launch(self, run: Run) -> Coroutine[Any, Any, None]:
        """The run's supervisor, made for the executor, which runs what this returns: here,
        or dispatched to a worker."""
        if self.remote is not None:
            self._remote_live.add(run.id)
            return self._supervise_remote(self.remote, run)
        return await self.launch(run)

    async def _supervise_remote(self, remote: RemoteExecution, run: Run) -> None:
        try:
            await remote.supervise(run)
        finally:
            self._remote_live.discard(run.id)

    async def launch(self, run: Run) -> Coroutine[Any, Any, None]:
        """The supervisor of ``run`` in this process (what runs it to its end); a worker runs
        the runs it takes with it."""
        hidden = await self.store.hidden(run.id)
        prompt, resume = start_message(
            run, hidden, saved=self.setup.has_transcript(run.id, run.session_id))
        sup = RunSupervisor(self, run, prompt, resume=resume, fork_from=hidden["fork_from"])
        self._supervisors[run.id] = sup
        return self._supervise(sup)

    async def _supervise(self, sup: RunSupervisor) -> None:
        try:
            await sup.main()
        finally:
            self._supervisors.pop(sup.run.id, None)

    async def prepare_worktree(self, run: Run) -> Run:
        """Give a run its worktree (called by its supervisor, outside the queue's lock); a
        run queued to start later takes its base commit now. Returns the run as stored."""
        cwd = Path(run.cwd)
        if run.base_sha is None:
            project = await self.projects.get(run.project)
            await self.store.update(run.id, base_sha=await workplace.base_commit(project, run))
            run = await self.store.get(run.id)
        if not run.use_worktree or cwd.is_dir():
            return run
        project = await self.projects.get(run.project)
        repo = Path(project.path)
        assert run.branch is not None and run.base_sha is not None
        cwd.parent.mkdir(parents=True, exist_ok=True)
        if await gitops.branch_exists(repo, run.branch):
            # The worktree was cleaned up but the branch is still there: check it out again.
            await git_worktrees.add_worktree(repo, cwd, run.branch)
        else:
            await self.pool.checkout(run.project, repo, cwd, run.branch, run.base_sha)
        if run.worktree_removed:
            await self.store.update(run.id, worktree_removed=0)
        await unstage_attachments(self.config.home, run.id, cwd / sandbox.ATTACHMENTS_DIR)
        return await self.store.get(run.id)

    async def agent_spec(self, run: Run, *, resume: bool, fork_from: str | None,
                         stderr: TextIO) -> AgentSpec:
        return await self.setup.spec(run, resume=resume, fork_from=fork_from, stderr=stderr)

    # -- people acting on runs --------------------------------------------------------------

    async def get(self, run_id: str) -> Run:
        return await self.store.resolve(run_id)

    async def find(self, project: str | None = None, states: list[RunState] | None = None,
                   limit: int = 50, offset: int = 0) -> list[Run]:
        if project is not None:
            await self.projects.named(project)
        return await self.store.find(project=project, states=states, limit=limit,
                                     offset=offset)

    async def logs(self, run_id: str, after: int = 0, limit: int = 200) -> list[RunEvent]:
        run = await self.store.resolve(run_id)
        return await self.store.events(run.id, after, limit)

    async def steer(self, run_id: str, message: str, actor: str = "cli") -> Run:
        message = check_text(message, "message").strip()
        run = await self.store.resolve(run_id)
        if not message:
            raise InvalidInput("the message is empty")
        live = self.is_live(run.id)
        if run.state is RunState.QUEUED and not live:
            hidden = await self.store.hidden(run.id)
            await self.store.update(run.id, pending_prompt=(
                f"{_next_prompt(run, hidden)}\n\n{message}"))
        elif live:
            await self.commands.send(run.id, CommandKind.STEER, actor, text=message)
        else:
            raise Conflict(f"run {run.id!r} is {run.state}, not live; continue it with "
                           f"`gluon resume {run.id} \"...\"`")
        await self.activity.record(actor, "run.steer", run.id, "ok", message)
        return await self.store.get(run.id)

    async def interrupt(self, run_id: str, actor: str = "cli") -> Run:
        run = await self.store.resolve(run_id)
        if not self.is_live(run.id) or run.state is RunState.QUEUED:
            raise Conflict(f"run {run.id!r} is {run.state}; only a running agent can be "
                           "interrupted")
        await self.commands.send(run.id, CommandKind.INTERRUPT, actor)
        await self.activity.record(actor, "run.interrupt", run.id, "ok")
        return run

    async def cancellable(self, run_id: str) -> Run:
        """The run, if it can be cancelled; else the Conflict that says why not."""
        run = await self.store.resolve(run_id)
        if not self.is_live(run.id) and not run.state.is_live and (
                run.state is not RunState.INTERRUPTED):
            raise Conflict(f"run {run.id!r} is already {run.state}; nothing to cancel")
        return run

    async def cancel(self, run_id: str, actor: str = "cli") -> Run:
        run = await self.cancellable(run_id)
        if self.is_live(run.id):
            sent = await self.commands.send(run.id, CommandKind.CANCEL, actor)
            await until_ended(self.bus, self.store, run.id, CANCEL_TIMEOUT)
            if (await self.store.get(run.id)).state is not RunState.INTERRUPTED:
                # It ended otherwise just before: the cancel must not stop its next life.
                await self.commands.complete(sent)
        else:
            await self.transition(run.id, RunState.CANCELLED, f"cancelled by {actor}")
            await self.interactions.expire_for_run(run.id)
        await self.activity.record(actor, "run.cancel", run.id, "ok")
        return await self.store.get(run.id)

    async def resume(self, run_id: str, message: str, actor: str = "cli") -> Run:
        """A follow-up in the same session and worktree."""
        message = check_text(message, "message").strip() or RESTART_PROMPT
        run = await self.store.resolve(run_id)
        if self.is_live(run.id):
            return await self.steer(run.id, message, actor)
        if run.state is RunState.QUEUED:
            # Not started yet: the message goes with its task. (Without a daemon, this is how
            # a command takes on a run the daemon had queued: it runs here.)
            if message != RESTART_PROMPT:
                await self.steer(run.id, message, actor)
            self.executor.adopt(run.id)
        else:
            await self._requeue(await self._interrupt_orphan(run), message, actor)
        await self.executor.pump()
        return await self.store.get(run.id)

    async def recover(self, run_id: str, actor: str = "cli") -> Run:
        """Continue an ended run in a fresh agent session whose prompt sums up the work so far
        (what Gluon does by itself when a conversation outgrows the model's context)."""
        run = await self.store.resolve(run_id)
        if not run.state.is_resumable:
            raise Conflict(f"run {run.id!r} is {run.state}; only an ended run that may be "
                           "resumed can go on in a fresh session")
        fresh = await overflow.fresh_start(self.store, run)
        await self._requeue(run, fresh.pop("pending_prompt"), actor, fresh=fresh)
        await self.note(run, "overflow", f"📦 {actor} continued the run in a fresh session "
                        "with a summary")
        await self.executor.pump()
        return await self.store.get(run.id)

    async def _requeue(self, run: Run, message: str, actor: str, *, keep_place: bool = False,
                       priority: int | None = None, fresh: dict[str, Any] | None = None) -> None:
        """Queue an ended run again with ``message``, at its own priority unless ``priority``
        says otherwise; ``keep_place``: in the queue's order where it was when it last
        started (after a restart), not at the end."""
        if not run.state.is_resumable:
            raise Conflict(f"run {run.id!r} is {run.state}; it cannot be resumed")
        if self.remote is None:
            self.setup.check_credentials()
        await self.usage.check_budgets(run.project)
        await self.executor.check()
        if run.budget_usd is not None and run.cost_usd >= run.budget_usd:
            raise Conflict(f"run {run.id!r} has spent its budget of ${run.budget_usd:.2f}; "
                           "fork it with a new budget instead")
        hidden = await self.store.hidden(run.id)
        undelivered = hidden["pending_prompt"] or (None if run.session_started else run.prompt)
        message = with_undelivered(undelivered, message)
        fields: dict[str, Any] = dict(fresh or {})  # a fresh session's (see recover)
        if keep_place and hidden["queued_at"] is not None:
            fields["queued_at"] = hidden["queued_at"]
        await self.transition(run.id, RunState.QUEUED, f"resumed by {actor}",
                              pending_prompt=message, ended_at=None, error=None,
                              not_before=None, **fields)
        await self.executor.submit(run.id, priority=run.priority if priority is None
                                   else priority)
        await self.activity.record(actor, "run.resume", run.id, "ok", message)

    async def fork(self, run_id: str, message: str, *, model: str | None = None,
                   budget_usd: float | None = None, actor: str = "cli") -> Run:
        """A new run that starts from a copy of this run's session and branch."""
        message = check_text(message, "message").strip()
        check_optional(model, "model")
        parent = await self.store.resolve(run_id)
        if not parent.session_started:
            raise Conflict(f"run {parent.id!r} has no session yet; wait until it has started")
        if not message:
            raise InvalidInput("say what the fork should do differently")
        if self.remote is None:
            self.setup.check_credentials()
        await self.usage.check_budgets(parent.project)
        await self.executor.check()
        project = await self.projects.get(parent.project)
        run_id_new = await self.store.new_id()
        if parent.use_worktree and parent.branch:
            cwd = self.config.worktrees_dir / project.name / run_id_new
            new_branch = f"gluon/{run_id_new}"
            if self.remote is not None and parent.state.is_live:
                await self.remote.receive(parent.id)  # here only once the parent ends
            start = await gitops.head_sha(Path(project.path), parent.branch)
            if self.remote is None:
                await self.pool.checkout(project.name, Path(project.path), cwd, new_branch,
                                         start)
            else:  # its worker checks the branch out; the branch comes back here at its end
                await gitops.create_branch(Path(project.path), new_branch, start)
            branch: str | None = new_branch
        else:
            cwd, branch = Path(parent.cwd), None
        hidden = await self.store.hidden(parent.id)
        run = await self.store.insert(
            id=run_id_new, project=parent.project, prompt=message,
            model=resolve_model(model, parent.model), use_worktree=int(parent.use_worktree),
            cwd=str(cwd), branch=branch, base_branch=parent.base_branch,
            base_sha=parent.base_sha, session_id=parent.session_id, fork_from=parent.session_id,
            parent_id=parent.id, budget_usd=budget_usd if budget_usd is not None
            else parent.budget_usd, created_by=actor, pending_prompt=message,
            session_cost_usd=hidden["session_cost_usd"],
            state_reason=f"forked from {parent.id} by {actor}")
        await self.activity.record(actor, "run.fork", run.id, "ok", f"from {parent.id}")
        await self.executor.submit(run.id)
        await self.executor.pump()
        return await self.store.get(run.id)

    async def answer(self, interaction_id: str, choice: str, actor: str = "cli",
                     kind: InteractionKind | None = None) -> Interaction:
        """Answer a question or permission request, from any surface (``kind``: only that).

        The interaction records the answer; the answer command on the run's channel wakes
        the run waiting for it, or, when the run's Gluon stopped, tells the agent when the run
        goes on (here, at once, when no other Gluon holds it)."""
        interaction = await self.interactions.get(interaction_id)
        if kind is not None and interaction.kind is not kind:
            other = ("decide_permission" if interaction.kind is InteractionKind.PERMISSION
                     else "answer_question")
            raise InvalidInput(f"{interaction.id!r} is a {interaction.kind}, not a {kind}; "
                               f"use {other}")
        async with self.store.transaction():  # the answer and what carries it, or neither
            answered = await self.interactions.answer(interaction.id, choice, actor)
            await self.commands.send(answered.run_id, CommandKind.ANSWER, actor,
                                     interaction_id=answered.id)
        await self.activity.record(actor, "interaction.answer", answered.id, "ok",
                                   str(answered.answer))
        if not self.is_live(answered.run_id):
            run = await self._interrupt_orphan(await self.store.get(answered.run_id))
            if run.state.is_resumable:
                await self.resume(run.id, "", actor)
        return answered

    async def note(self, run: Run, source: str, text: str) -> None:
        """Tell the people who follow ``run`` something (a durable RunNote)."""
        note = RunNote(run_id=run.id, project=run.project, source=source, text=text)
        if self.events is None:
            self.bus.publish(note)
            return
        self.events.publish(await self.events.append(note))

    async def allow_for_project(self, project: str, rule: str) -> None:
        await self.projects.store.allow(project, rule)

    async def agent_started(self, run: Run) -> None:
        """A run's agent is up: now is a good time to make the next spare worktree."""
        if run.use_worktree and run.base_sha:
            project = await self.projects.get(run.project)
            self.pool.refill_later(project.name, Path(project.path), run.base_sha)
            if self.executor.coordinator:  # a command's own Gluon ends with its run
                self.warm.refill_later(project.name, Path(project.path), run.base_sha)

    async def remove_project(self, name: str, actor: str = "cli") -> Project:
        """Forget a project (never its files) and drop its spare worktrees."""
        project = await self.projects.remove(name, actor=actor)
        await self.usage.settings.set(project_budget_key(project.name), None)
        await self.pool.drop(project.name, Path(project.path))
        await self.warm.drop(project.name)
        return project

    def is_live(self, run_id: str) -> bool:
        """The run's agent is live, here or on the worker it was dispatched to."""
        return run_id in self._supervisors or run_id in self._remote_live

    def agent_pid(self, run_id: str) -> int | None:
        """The process of the run's agent, when this Gluon runs it and it has started."""
        sup = self._supervisors.get(run_id)
        pid = getattr(sup.session, "pid", None) if sup is not None else None
        return pid if isinstance(pid, int) else None
