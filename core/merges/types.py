"""A merge-queue entry as the services and surfaces see it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.merges.states import MergeState


class MergeEntry(BaseModel):
    id: str
    run_id: str
    project: str
    base: str = Field(description="the base branch it merges into")
    branch: str = Field(description="the run's branch")
    state: MergeState
    reason: str = Field(description="why it is in its state, in one line")
    position: int = Field(description="its place in its base branch's line (1: next); 0 once "
                                      "it has left the queue")
    created_by: str
    created_at: float
    updated_at: float
    ended_at: float | None = None
    conflict_fixes: int = Field(description="times the agent was asked to fix a conflict")
    check_fixes: int = Field(description="times the agent was asked to fix failed checks")
    rebases: int
    files: list[str] = Field(default_factory=list,
                             description="the files that conflict or the checks that failed")
    head: str | None = Field(default=None, description="the branch head it last rebased to")
    onto: str | None = Field(default=None, description="the base commit it rebased onto")
    pull_request: int | None = None
    pull_request_url: str | None = None
    merged_commit: str | None = None
    cleaned: bool = Field(default=False, description="branch and worktree removed")
