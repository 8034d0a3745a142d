"""Tools for runs: start, watch, steer, stop, continue and answer coding agents."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated

from pydantic import BaseModel, Field

from core.errors import InvalidInput
from core.events.bus import InteractionRequested, RunStateChanged
from core.formulas import FormulaProgress
from core.gates.types import GateSummary
from core.loops.types import LoopStatus
from core.models import Interaction, Run, RunSummary, Transition, UsageReport
from core.runs.store import RunEvent
from core.runtime import Runtime
from core.types import InteractionKind, PermissionChoice, RunState
from core.witness.estimate import MIN_RUNS, Estimate, estimate
from mcp_tools.params import Limit, ProjectRef, RunRef
from mcp_tools.queue_tools import source
from mcp_tools.registry import ToolKit, actor
from mcp_tools.witness_tools import WitnessHealth


class ListedRun(RunSummary):
    health: WitnessHealth | None = Field(
        default=None, description="the witness's classification of a run it has watched")


class RunList(BaseModel):
    runs: list[ListedRun]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` to get the next page; null on the last")


class RunOverlap(BaseModel):
    run_id: str = Field(description="another run on the same project and base branch")
    state: RunState
    files: list[str] = Field(description="the files both runs change: merging the second "
                             "of them will likely conflict there")


class RunDetail(BaseModel):
    run: Run
    live: bool
    pending: list[Interaction]
    transitions: list[Transition]
    overlaps: list[RunOverlap] = Field(
        default_factory=list, description="live or reviewed runs that change the same files")
    loop: LoopStatus | None = Field(
        default=None, description="the run's autonomous loop, when it was started as one")
    formula: FormulaProgress | None = Field(
        default=None, description="the formula the run follows, and its current step")
    gates: list[GateSummary] = Field(
        default_factory=list, description="the quality gates' latest outcomes on the run's "
        "work (lint auto-fix, lint, tests); details with get_gate_results")
    worker: str | None = Field(
        default=None, description="the gluon worker executing the run, or that last did (in "
        "a cluster); null: it runs in gluon serve")
    health: WitnessHealth | None = Field(
        default=None, description="the witness's classification (healthy, looping, stuck, "
        "stalled, zombie) of a run it has watched; history with get_run_health")


class RunLogs(BaseModel):
    run_id: str
    state: RunState
    live: bool
    events: list[RunEvent]


class WaitResult(BaseModel):
    run: Run
    done: bool = Field(description="True when the run is no longer live")
    pending: list[Interaction] = Field(description="questions and permission requests waiting")


class CostEstimate(BaseModel):
    estimate: Estimate | None = Field(
        description=f"null until the project has {MIN_RUNS} finished runs with a cost")
    text: str = Field(description="one line to show a person")


class PendingList(BaseModel):
    pending: list[Interaction]


def register(kit: ToolKit, rt: Runtime) -> None:
    runs = rt.runs

    async def detail(run: Run) -> RunDetail:
        overlaps = [RunOverlap(run_id=o.other_run_id, state=o.other_state, files=o.files)
                    for o in await rt.forecast.overlaps(run.id)]
        return RunDetail(run=run, live=runs.is_live(run.id),
                         pending=await runs.interactions.pending(run.id),
                         transitions=await runs.store.transitions(run.id), overlaps=overlaps,
                         loop=await rt.loops.status_of(run),
                         formula=await rt.formulas.progress(run.id),
                         gates=await rt.gates.summary(run.id),
                         worker=await rt.cluster_store.worker_of(run.id),
                         health=await health_of(run))

    async def health_of(run: Run) -> WitnessHealth | None:
        found = await rt.witness.healths([run.id])
        return WitnessHealth.of(found[run.id]) if run.id in found else None

    @kit.tool()
    async def start_run(
            project: ProjectRef,
            prompt: Annotated[str, Field(description="the task, in plain words")],
            model: Annotated[str | None, Field(
                description="opus, sonnet, haiku or a full model id; default from config")] = None,
            worktree: Annotated[bool, Field(
                description="work in a new worktree and branch (default); false works in "
                "the project's checkout")] = True,
            base: Annotated[str | None, Field(
                description="branch to start from; default: the project's current branch")
            ] = None,
            budget_usd: Annotated[float | None, Field(
                gt=0, description="spend limit of this run in USD")] = None,
            attachments: Annotated[list[str] | None, Field(
                description="files sent in chat with the request (their paths as given in "
                "the conversation), copied into the run's worktree")] = None,
            loop: Annotated[bool, Field(
                description="keep the agent going, iteration after iteration, until it says "
                "the task is done (an autonomous loop)")] = False,
            max_loops: Annotated[int | None, Field(
                ge=1, le=1000, description="with loop: at most this many iterations "
                "(default from config, 10)")] = None,
            max_cost_usd: Annotated[float | None, Field(
                gt=0, description="with loop: stop the loop once it has cost this much, "
                "in USD")] = None) -> Run:
        """Start a Claude Code agent on a project with a task.

        The agent works in its own git worktree on branch `gluon/<run id>` made from `base`
        (default: the project's current branch), unless `worktree` is false. `model` is
        opus, sonnet, haiku or a full model id. `budget_usd` caps this run's spend. The run
        may wait in `queued` when the concurrency limits are reached. Returns the run.

        With `loop` the agent is told to continue after each reply until it says it is done
        (or ticks every item of its TODO.md), at most `max_loops` iterations and
        `max_cost_usd`; a circuit breaker stops it after 3 iterations without a file change,
        commit or new error. get_loop_status (or get_run's `loop`) shows where it is.
        """
        if loop:
            if worktree is False or base is not None or budget_usd is not None or attachments:
                raise InvalidInput("a loop runs in its own worktree from the project's "
                                   "current branch; leave out worktree, base, budget_usd "
                                   "and attachments with loop=true")
            return await rt.loops.start(project, prompt, max_loops=max_loops,
                                        max_cost_usd=max_cost_usd, actor=actor(), model=model,
                                        source=source())
        if max_loops is not None or max_cost_usd is not None:
            raise InvalidInput("max_loops and max_cost_usd only apply to a loop; add "
                               "loop=true (`gluon run --loop`)")
        return await runs.start_run(project, prompt, model=model, worktree=worktree, base=base,
                                    budget_usd=budget_usd, actor=actor(),
                                    attachments=attachments, source=source())

    @kit.tool(read_only=True)
    async def list_runs(
            project: Annotated[str | None, Field(description="only this project's runs")] = None,
            state: Annotated[list[RunState] | None, Field(
                description="only runs in these states")] = None,
            limit: Limit = 20,
            cursor: Annotated[str | None, Field(
                description="next_cursor of the previous page")] = None) -> RunList:
        """List runs (a summary each), newest first, optionally only one project's or only some
        states
        (queued, running, waiting, review, failed, cancelled, interrupted, merged, closed).
        Long lists come in pages: pass the returned next_cursor to get the next one."""
        offset = int(cursor) if cursor and cursor.isdigit() else 0
        if cursor and not cursor.isdigit():
            raise InvalidInput(f"cursor {cursor!r} is not one this tool returned; omit it to "
                               "start from the newest run")
        found = await runs.find(project, state, limit + 1, offset)
        more = len(found) > limit
        healths = await rt.witness.healths([r.id for r in found[:limit]])
        listed = [ListedRun.model_validate({
            **RunSummary.of(r).model_dump(),
            "health": WitnessHealth.of(healths[r.id]) if r.id in healths else None})
            for r in found[:limit]]
        return RunList(runs=listed,
                       next_cursor=str(offset + limit) if more else None)

    @kit.tool(read_only=True)
    async def get_run(run: RunRef) -> RunDetail:
        """Everything about one run (id or unique id prefix): state and why, cost, tokens,
        turns, commits and changed files, open questions, its state history, the quality
        gates' outcomes (lint, tests), and the other live or reviewed runs on its base branch
        that change the same files (merging the second of two such runs will likely
        conflict)."""
        return await detail(await runs.get(run))

    @kit.tool(read_only=True)
    async def get_run_logs(
            run: RunRef,
            after: Annotated[int, Field(ge=0, description="only events after this event id")
                             ] = 0,
            limit: Limit = 200,
            wait_seconds: Annotated[float, Field(
                ge=0, le=60, description="wait this long for new events of a live run")] = 0,
    ) -> RunLogs:
        """What a run's agent said and did (text, tool calls, results), oldest first.
        Pass the last event id as `after` to get only newer events, and `wait_seconds` to wait
        for new ones while the run is live."""
        found = await runs.get(run)
        with rt.bus.subscribe(lambda e: e.run_id == found.id) as sub:
            events = await runs.logs(found.id, after, limit)
            if not events and wait_seconds > 0 and runs.is_live(found.id):
                with contextlib.suppress(TimeoutError):
                    await sub.get(timeout=wait_seconds)
                events = await runs.logs(found.id, after, limit)
        found = await runs.get(found.id)
        return RunLogs(run_id=found.id, state=found.state, live=runs.is_live(found.id),
                       events=events)

    @kit.tool(read_only=True)
    async def wait_for_run(
            run: RunRef,
            timeout_seconds: Annotated[float, Field(ge=0, le=600, description="wait at most "
                                                    "this long")] = 60) -> WaitResult:
        """Wait until a run ends or needs a person (a question or permission request), at most
        `timeout_seconds`. Returns the run, whether it is done, and what is pending."""
        found = await runs.get(run)

        def relevant(e: object) -> bool:
            return (isinstance(e, RunStateChanged | InteractionRequested)
                    and getattr(e, "run_id", None) == found.id)

        deadline = time.monotonic() + max(0.0, timeout_seconds)
        with rt.bus.subscribe(relevant) as sub:
            while True:
                current = await runs.get(found.id)
                pending = await runs.interactions.pending(found.id)
                done = not current.state.is_live and not runs.is_live(found.id)
                if done or pending or time.monotonic() >= deadline:
                    return WaitResult(run=current, done=done, pending=pending)
                try:
                    await sub.get(timeout=deadline - time.monotonic())
                except TimeoutError:
                    pass
                except asyncio.CancelledError:
                    raise

    @kit.tool()
    async def steer_run(run: RunRef, message: Annotated[str, Field(
            description="what the agent should read while it works")]) -> Run:
        """Send a message into a live run's session: the agent reads it while it works (or,
        after an interrupt, as its next instruction). For ended runs use run_resume."""
        return await runs.steer(run, message, actor=actor())

    @kit.tool()
    async def interrupt_run(run: RunRef) -> Run:
        """Stop the agent's current turn but keep its session, so it can be steered on."""
        return await runs.interrupt(run, actor=actor())

    async def cancel_preview(run: str) -> str:
        found = await runs.cancellable(run)
        return f"stop {found.describe()}, started by {found.created_by}, for good"

    @kit.tool(destructive=True, preview=cancel_preview)
    async def cancel_run(run: RunRef) -> Run:
        """Stop a run's agent for good. Its worktree, branch and any uncommitted work (which
        is committed to the branch) are kept; the run can still be resumed."""
        return await runs.cancel(run, actor=actor())

    @kit.tool()
    async def resume_run(run: RunRef, message: Annotated[str, Field(
            description="the follow-up instruction")]) -> Run:
        """Continue an ended run (review, failed, cancelled, interrupted) with a follow-up
        message, in the same session and worktree. Returns the run, queued again."""
        return await runs.resume(run, message, actor=actor())

    @kit.tool()
    async def recover_run(run: RunRef) -> Run:
        """Continue an ended run in a fresh agent session (same worktree and branch) whose
        first prompt sums up the work so far: its task, commits, changed files and the agent's
        last messages. Gluon does this by itself when a conversation outgrows the model's
        context; use it by hand for a run whose session went wrong. Returns the run, queued."""
        return await runs.recover(run, actor=actor())

    @kit.tool(read_only=True)
    async def estimate_run_cost(project: ProjectRef) -> CostEstimate:
        """What a new run of the project will likely cost: the middle half (25th to 75th
        percentile) of what its last 20 finished runs cost. Say it when starting a run."""
        name = (await rt.projects.get(project)).name
        found = await estimate(runs.store, name)
        return CostEstimate(estimate=found, text=found.text() if found else
                            f"no cost estimate yet: {name} has fewer than {MIN_RUNS} "
                            "finished runs")

    @kit.tool()
    async def fork_run(
            run: RunRef,
            message: Annotated[str, Field(description="what the fork should do differently")],
            model: Annotated[str | None, Field(description="model of the fork")] = None,
            budget_usd: Annotated[float | None, Field(gt=0, description="spend limit of the "
                                                      "fork in USD")] = None) -> Run:
        """Start a new run from a copy of another run's conversation and branch, to try a
        different approach with `message`. The original run is not touched."""
        return await runs.fork(run, message, model=model, budget_usd=budget_usd,
                               actor=actor())

    @kit.tool(read_only=True)
    async def list_pending(run: Annotated[str | None, Field(
            description="only this run's requests")] = None) -> PendingList:
        """Questions and permission requests from agents that wait for a person."""
        run_id = (await runs.get(run)).id if run else None
        return PendingList(pending=await runs.interactions.pending(run_id))

    @kit.tool()
    async def answer_question(
            id: Annotated[str, Field(description="the question's id (or a unique prefix)")],
            answer: Annotated[str, Field(description="one of the question's option labels, "
                                         "its number (1 = first), or free text")]
    ) -> Interaction:
        """Answer a question an agent asked (list them with list_pending). The agent is waiting
        and continues with this answer. Returns the answered question."""
        return await runs.answer(id, answer, actor=actor(),
                                 kind=InteractionKind.QUESTION)

    @kit.tool()
    async def decide_permission(
            id: Annotated[str, Field(description="the permission request's id (or a prefix)")],
            decision: Annotated[PermissionChoice, Field(
                description="allow (this once), allow_run (this tool for the rest of the "
                "run), allow_project (this tool in every run of the project), or deny")]
    ) -> Interaction:
        """Allow or deny a tool call an agent asked permission for (see list_pending)."""
        return await runs.answer(id, str(decision), actor=actor(),
                                 kind=InteractionKind.PERMISSION)

    @kit.tool()
    async def answer_pending(
            id: Annotated[str, Field(description="the request's id (or a unique prefix)")],
            choice: Annotated[str, Field(description="for a question: an option, its number "
                                         "or free text; for a permission: allow, allow_run, "
                                         "allow_project or deny")]
    ) -> Interaction:
        """Answer whatever request has this id, question or permission (for callers that do
        not know which it is)."""
        return await runs.answer(id, choice, actor=actor())

    @kit.tool(read_only=True)
    async def get_usage(days: Annotated[int, Field(ge=1, le=366, description="days of "
                                                   "history")] = 7) -> UsageReport:
        """Spend and tokens today per project and over the last days, and the daily budget."""
        return await runs.usage.report(days)
