"""What needs a person, in one list for every surface: the agents' open questions and
permission requests, runs in trouble (core.runs.health, with the witness's verdicts: looping,
stuck, stalled, zombie), failed merge-queue entries and daily budgets near their cap. Each
item says what it is, whose it is, how long it has waited and the tool that deals with it; the
oldest comes first.

The CLI, the MCP tool, the chat and the status page's "Needs you" panel all read ``Attention``,
so they agree.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.budget.usage import today
from core.errors import NotFound
from core.merges.states import MergeState
from core.runs.health import NEEDS_ATTENTION, WITNESSED, Condition, assess
from core.types import InteractionKind, RunState

if TYPE_CHECKING:
    from core.merges.service import MergeQueue
    from core.models import Interaction, Run
    from core.runs.service import RunManager
    from core.witness.service import Witness

RECENT = 24 * 3600.0  # failed runs and merges older than this no longer ask for a person
NEAR_CAP = 0.8  # share of a daily budget spent before it needs a person
_LIMIT = 200  # runs or merge entries looked at, each


class AttentionKind(StrEnum):
    QUESTION = "question"  # an agent asked a question
    PERMISSION = "permission"  # an agent asks to use a tool
    RUN = "run"  # a run loops, is stuck, stalled, quiet, near its budget, failed, interrupted
    MERGE = "merge"  # a merge-queue entry failed
    BUDGET = "budget"  # today's spend is near a daily budget


class AttentionItem(BaseModel):
    kind: AttentionKind
    text: str = Field(description="what it is, in one line")
    project: str | None = Field(default=None, description="its project; null: all projects")
    run_id: str | None = None
    ref: str | None = Field(default=None, description="the id the action takes: the "
                            "question's, the run's, the merge entry's")
    condition: str | None = Field(default=None, description="a run's health: looping, "
                                  "stuck, stalled, zombie, quiet, near_budget, failed, "
                                  "interrupted")
    since: float = Field(description="when it started waiting (seconds since the epoch)")
    waited_s: float = Field(description="seconds it has waited")
    action: str = Field(description="the tool that deals with it")
    action_args: dict[str, Any] = Field(default_factory=dict,
                                        description="that tool's arguments known already")
    hint: str = Field(description="what to do, in a few words that name the tool")


class AttentionList(BaseModel):
    items: list[AttentionItem] = Field(description="oldest first")


# The tool and the advice for each run condition that needs a person.
_RUN_ACTIONS: dict[Condition, tuple[str, str]] = {
    Condition.LOOPING: ("steer_run", "tell it what to do instead with steer_run, or "
                        "interrupt_run"),
    Condition.STUCK: ("steer_run", "give it a hint with steer_run, or interrupt_run"),
    Condition.STALLED: ("interrupt_run", "interrupt_run, then resume_run; or "
                        "silence_run_health if it is thinking"),
    Condition.ZOMBIE: ("resume_run", "its agent is gone: resume_run restarts it"),
    Condition.QUIET: ("steer_run", "nudge it with steer_run, or interrupt_run"),
    Condition.NEAR_BUDGET: ("get_run", "check it with get_run; let it finish or cancel_run"),
    Condition.FAILED: ("resume_run", "continue it with resume_run"),
    Condition.INTERRUPTED: ("resume_run", "continue it with resume_run"),
}


class Attention:
    def __init__(self, runs: RunManager, merges: MergeQueue,
                 witness: Witness | None = None) -> None:
        self.runs = runs
        self.merges = merges
        self.witness = witness

    async def items(self, project: str | None = None,
                    now: float | None = None) -> list[AttentionItem]:
        """Everything that needs a person (only ``project``'s, if given), oldest first."""
        now = time.time() if now is None else now
        found: list[AttentionItem] = []
        runs: dict[str, Run] = {}
        for interaction in await self.runs.interactions.pending():
            run = await self._run(runs, interaction.run_id)
            if run is not None and project in (None, run.project):
                found.append(_asked(interaction, run, now))
        live = [s for s in RunState if s.is_live]
        ended = [RunState.FAILED, RunState.INTERRUPTED]
        for run in [*await self.runs.find(project, live, _LIMIT),
                    *await self.runs.find(project, ended, _LIMIT)]:
            item = _run_item(run, now, self.witness)
            if item is not None:
                found.append(item)
        queued: set[str] = set()  # runs seen in the queue: open entries, then the latest
        for entry in await self.merges.list(project, limit=_LIMIT):
            if entry.run_id in queued:
                continue  # an older entry of a run queued again since
            queued.add(entry.run_id)
            if entry.state is MergeState.FAILED and now - entry.updated_at <= RECENT:
                found.append(AttentionItem(
                    kind=AttentionKind.MERGE, project=entry.project, run_id=entry.run_id,
                    ref=entry.id, text=f"merge of {entry.branch} into {entry.base} failed: "
                    f"{entry.reason}", since=entry.updated_at,
                    waited_s=now - entry.updated_at, action="retry_merge",
                    action_args={"entry": entry.id},
                    hint="deal with the reason, then retry_merge"))
        found += await self._budgets(project, now)
        found.sort(key=lambda i: (i.since, i.kind != AttentionKind.QUESTION))
        return found

    async def _run(self, cache: dict[str, Run], run_id: str) -> Run | None:
        if run_id not in cache:
            try:
                cache[run_id] = await self.runs.store.get(run_id)
            except NotFound:
                return None
        return cache[run_id]

    async def _budgets(self, project: str | None, now: float) -> list[AttentionItem]:
        usage = self.runs.usage
        items: list[AttentionItem] = []
        scopes: list[str | None] = [None] if project is None else []
        scopes += [s.key for s in await usage.store.by_project(today())
                   if project in (None, s.key)]
        for scope in scopes:
            limit = await usage.settings.daily_budget(usage.config, scope)
            if not limit:
                continue
            spent = await usage.spent_today(scope)
            if spent < NEAR_CAP * limit:
                continue
            whose = "today's budget" if scope is None else f"{scope}'s daily budget"
            args: dict[str, Any] = {"scope": "global" if scope is None else "project"}
            if scope is not None:
                args["project"] = scope
            items.append(AttentionItem(
                kind=AttentionKind.BUDGET, project=scope, ref=scope,
                text=f"{spent / limit:.0%} of {whose} spent (${spent:.2f} of ${limit:.2f})",
                since=now, waited_s=0.0, action="set_budget", action_args=args,
                hint="raise it with set_budget, or wait for midnight UTC"))
        return items


def _asked(interaction: Interaction, run: Run, now: float) -> AttentionItem:
    question = interaction.kind is InteractionKind.QUESTION
    text = (f"asks: {interaction.title}" if question
            else f"asks to use {interaction.title}")
    return AttentionItem(
        kind=AttentionKind.QUESTION if question else AttentionKind.PERMISSION,
        text=f"run {run.short} {text}", project=run.project, run_id=run.id,
        ref=interaction.id, since=interaction.created_at,
        waited_s=now - interaction.created_at,
        action="answer_question" if question else "decide_permission",
        action_args={"id": interaction.id},
        hint="answer it with answer_question" if question
        else "allow or deny it with decide_permission")


def _run_item(run: Run, now: float, witness: Witness | None) -> AttentionItem | None:
    health = assess(run, now, verdict=witness.signal(run.id) if witness else None)
    if health.condition not in NEEDS_ATTENTION or health.condition not in _RUN_ACTIONS:
        return None  # waiting runs are listed by their question
    if health.condition in WITNESSED and witness is not None:
        verdict = witness.verdict_of(run.id)
        since = witness.watches[run.id].since if verdict is not None else now
    elif health.condition is Condition.QUIET:
        since = run.last_activity_at or run.started_at or run.created_at
    elif health.condition is Condition.NEAR_BUDGET:
        since = run.last_activity_at or now
    else:
        since = run.ended_at or run.last_activity_at or run.created_at
        if now - since > RECENT:
            return None
    action, hint = _RUN_ACTIONS[health.condition]
    reason = f": {run.state_reason}" if health.condition is Condition.FAILED \
        and run.state_reason else ""
    return AttentionItem(
        kind=AttentionKind.RUN, text=f"run {run.short} {health.text}{reason}",
        project=run.project, run_id=run.id, ref=run.id, condition=str(health.condition),
        since=since, waited_s=now - since, action=action, action_args={"run": run.id},
        hint=hint)
