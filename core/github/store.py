"""Which runs are linked to GitHub: the one writer of ``github_runs``.

A run is linked to the issue or pull request that started it (``kind`` issue or pull), or,
when failed checks on its branch resumed it, to that branch only (``branch``). The link keeps
the run's status comment (its id and text), how often CI failures resumed it, and what was
pushed to the pull request's branch.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

import aiosqlite
from pydantic import BaseModel, Field

from core.store.db import Database


class LinkKind(StrEnum):
    ISSUE = "issue"
    PULL = "pull"
    BRANCH = "branch"


class GitHubLink(BaseModel):
    run_id: str
    project: str
    repo: str | None = Field(description="owner/name on GitHub")
    number: int | None = Field(description="the issue or pull request the run answers on")
    kind: LinkKind = Field(description="issue, pull (a pull request), or branch (only its "
                           "CI is followed)")
    branch: str | None = Field(description="the branch whose failed checks resume the run")
    push_to: str | None = Field(description="the pull request's branch the run's commits are "
                                "pushed to when it finishes")
    comment_id: int | None = Field(description="the run's status comment on GitHub")
    fix_attempts: int = Field(description="how many times failed checks resumed the run")
    fix_sha: str | None
    pushed_sha: str | None
    delivery_id: str | None
    created_at: float

    @property
    def url_path(self) -> str:
        """``owner/name#12``, or the branch for a run linked only by its CI."""
        if self.repo and self.number is not None:
            return f"{self.repo}#{self.number}"
        return f"{self.repo or self.project} {self.branch or ''}".strip()


_COLUMNS = ("run_id, project, repo, number, kind, branch, push_to, comment_id, fix_attempts, "
            "fix_sha, pushed_sha, delivery_id, created_at")
_SETTABLE = frozenset({"comment_id", "comment_text", "fix_attempts", "fix_sha", "pushed_sha",
                       "branch", "push_to"})


def _link(row: aiosqlite.Row) -> GitHubLink:
    return GitHubLink(**dict(zip(row.keys(), tuple(row), strict=True)))


class GitHubStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def link(self, run_id: str, project: str, *, repo: str | None, number: int | None,
                   kind: LinkKind, branch: str | None, push_to: str | None = None,
                   delivery_id: str | None = None) -> GitHubLink:
        """Link a run (a second link of the same run changes nothing)."""
        await self.db.execute(
            "INSERT INTO github_runs (run_id, project, repo, number, kind, branch, push_to, "
            "delivery_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id) DO NOTHING",
            (run_id, project, repo, number, kind, branch, push_to, delivery_id, time.time()))
        found = await self.get(run_id)
        assert found is not None
        return found

    async def get(self, run_id: str) -> GitHubLink | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM github_runs WHERE run_id = ?",
                                     (run_id,))
        return _link(row) if row else None

    async def comment_text(self, run_id: str) -> str | None:
        row = await self.db.fetchone("SELECT comment_text FROM github_runs WHERE run_id = ?",
                                     (run_id,))
        return row["comment_text"] if row else None

    async def for_issue(self, repo: str, number: int) -> GitHubLink | None:
        """The newest run linked to an issue or pull request."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM github_runs WHERE repo = ? COLLATE NOCASE AND number = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1", (repo, number))
        return _link(row) if row else None

    async def for_branch(self, project: str, branch: str) -> GitHubLink | None:
        """The newest run whose CI runs on ``branch`` of the project."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM github_runs WHERE project = ? AND branch = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1", (project, branch))
        return _link(row) if row else None

    async def update(self, run_id: str, **fields: Any) -> None:
        unknown = set(fields) - _SETTABLE
        assert not unknown, f"github_runs has no settable column {sorted(unknown)}"
        sets = ", ".join(f"{k} = ?" for k in fields)
        await self.db.execute(f"UPDATE github_runs SET {sets} WHERE run_id = ?",
                              (*fields.values(), run_id))

    async def links(self, *, project: str | None = None, run_id: str | None = None,
                    limit: int = 50) -> list[GitHubLink]:
        """Linked runs, newest first."""
        where, params = [], []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        sql = f"SELECT {_COLUMNS} FROM github_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.db.fetchall(sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                                      (*params, limit))
        return [_link(r) for r in rows]
