"""The records Gluon stores and returns: projects, runs, interactions, usage.

They are pydantic models because they are the structured output of the MCP tools and of
``--json`` CLI output; field names are part of that stable interface.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.types import (
    InteractionId,
    InteractionKind,
    InteractionStatus,
    ProjectName,
    RunId,
    RunState,
    SessionId,
)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Project(_Record):
    name: ProjectName
    path: str
    workspace: str | None = None
    trusted: bool = False
    created_at: float


class ProjectStatus(Project):
    """A project with the live state of its checkout."""

    branch: str | None
    head: str
    dirty: bool
    upstream: str | None
    ahead: int
    behind: int
    live_runs: int


class FileChange(_Record):
    path: str
    status: str
    additions: int
    deletions: int


class CommitInfo(_Record):
    sha: str
    subject: str


class Transition(_Record):
    from_state: RunState | None
    to_state: RunState
    reason: str
    at: float


class Run(_Record):
    id: RunId
    project: ProjectName
    prompt: str
    model: str
    state: RunState
    state_reason: str
    use_worktree: bool
    cwd: str
    branch: str | None
    base_branch: str | None
    base_sha: str | None
    session_id: SessionId
    session_started: bool = False
    parent_id: RunId | None
    budget_usd: float | None
    created_by: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    last_activity_at: float | None
    turns: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    result_text: str | None
    error: str | None
    last_message: str | None
    commits: list[CommitInfo] = Field(default_factory=list)
    changed_files: list[FileChange] = Field(default_factory=list)
    worktree_removed: bool = False
    priority: int = 0
    not_before: float | None = None
    key: str | None = None
    source: str = ""
    subagents_started: int = 0  # subagents its agent spawned (the Task tool)
    subagents_done: int = 0  # of them, those that stopped

    @property
    def short(self) -> str:
        return self.id[:8]

    def subagents_line(self) -> str:
        """``3 subagents: 2 done``; "" when its agent spawned none."""
        started = self.subagents_started
        if not started:
            return ""
        return f"{started} subagent{'s' if started != 1 else ''}: {self.subagents_done} done"

    def describe(self) -> str:
        """The run as a person recognises it: id, project, state and its prompt's start."""
        prompt = self.prompt if len(self.prompt) <= 60 else self.prompt[:57] + "..."
        return f"run {self.short} on {self.project} ({self.state}, {prompt!r})"


class RunSummary(_Record):
    """A run in a list: enough to pick one; get_run has everything."""

    id: RunId
    project: ProjectName
    state: RunState
    state_reason: str
    prompt: str
    model: str
    branch: str | None
    cost_usd: float
    created_at: float
    last_activity_at: float | None

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        return cls(id=run.id, project=run.project, state=run.state,
                   state_reason=run.state_reason[:200],
                   prompt=run.prompt if len(run.prompt) <= 200 else run.prompt[:199] + "…",
                   model=run.model, branch=run.branch, cost_usd=round(run.cost_usd, 6),
                   created_at=run.created_at, last_activity_at=run.last_activity_at)


class Interaction(_Record):
    id: InteractionId
    run_id: RunId
    kind: InteractionKind
    tool_name: str
    tool_input: dict[str, Any]
    title: str
    status: InteractionStatus
    answer: Any = None
    answered_by: str | None = None
    created_at: float
    answered_at: float | None = None

    @property
    def options(self) -> list[str]:
        """The labels a person can pick (a question's options, or the permission choices)."""
        if self.kind is InteractionKind.QUESTION:
            labels: list[str] = []
            for q in self.tool_input.get("questions", []):
                labels += [str(o.get("label", "")) for o in q.get("options", [])]
            return labels
        return ["allow", "allow_run", "allow_project", "deny"]


class UsageRow(_Record):
    key: str
    runs: int
    cost_usd: float
    input_tokens: int
    output_tokens: int


class VoiceUsageRow(_Record):
    """Voice notes transcribed on a day (``key``)."""

    key: str
    notes: int
    minutes: float
    cost_usd: float


class UsageReport(_Record):
    """Runs' spend today, by project and by day; voice notes' (not counted in the runs'
    daily budgets) on each of the last days with any, newest first."""

    today: str
    today_cost_usd: float
    daily_budget_usd: float | None
    by_project: list[UsageRow]
    by_day: list[UsageRow]
    voice_by_day: list[VoiceUsageRow] = []
