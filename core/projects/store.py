"""Persistence of projects, workspaces and the tools pre-approved for a project.

The only writer of ``projects``, ``workspaces`` and ``permission_rules``. Forgetting or moving a
project also changes its runs, through the run store (the one writer of ``runs``), in the same
transaction.
"""

from __future__ import annotations

import time

import aiosqlite

from core.models import Project
from core.runs.store import RunStore
from core.store.db import Database
from core.types import LIVE_STATES

_LIVE = f"state IN ({','.join('?' * len(LIVE_STATES))})"


def _project(row: aiosqlite.Row) -> Project:
    return Project(name=row["name"], path=row["path"], workspace=row["workspace"],
                   trusted=bool(row["trusted"]), created_at=row["created_at"])


class ProjectStore:
    def __init__(self, db: Database, runs: RunStore) -> None:
        self.db = db
        self.runs = runs

    # -- projects -----------------------------------------------------------------------------

    async def insert(self, project: Project) -> None:
        await self.db.execute(
            "INSERT INTO projects (name, path, workspace, trusted, created_at) VALUES (?,?,?,?,?)",
            (project.name, project.path, project.workspace, int(project.trusted),
             project.created_at))

    async def mirror(self, project: Project) -> None:
        """Record a project as another Gluon has it (a worker's copy of the coordinator's
        project, at the worker's own repository): added, or its path and trust updated."""
        await self.db.execute(
            "INSERT INTO projects (name, path, workspace, trusted, created_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT (name) DO UPDATE SET path = excluded.path, trusted = excluded.trusted",
            (project.name, project.path, project.workspace, int(project.trusted),
             project.created_at))

    async def get(self, name: str) -> Project | None:
        row = await self.db.fetchone("SELECT * FROM projects WHERE name = ?", (name,))
        return _project(row) if row else None

    async def name_at(self, path: str) -> str | None:
        """The project registered at this folder, if any."""
        row = await self.db.fetchone("SELECT name FROM projects WHERE path = ?", (path,))
        return str(row["name"]) if row else None

    async def all(self) -> list[Project]:
        return [_project(r) for r in await self.db.fetchall(
            "SELECT * FROM projects ORDER BY name")]

    async def live_runs(self, name: str) -> list[str]:
        """Ids of the project's live runs (queued, running, waiting)."""
        rows = await self.db.fetchall(f"SELECT id FROM runs WHERE project = ? AND {_LIVE}",
                                      (name, *LIVE_STATES))
        return [r["id"] for r in rows]

    async def newest_base_sha(self, name: str) -> str | None:
        """The commit the project's newest run started from."""
        row = await self.db.fetchone(
            "SELECT base_sha FROM runs WHERE project = ? AND base_sha IS NOT NULL "
            "ORDER BY created_at DESC LIMIT 1", (name,))
        return str(row["base_sha"]) if row else None

    async def remove(self, name: str) -> None:
        """Forget the project and its runs; deleting the runs deletes what hangs off them
        (usage, events, transitions, questions, chat links) by their foreign keys."""
        async with self.db.transaction():
            await self.runs.forget_project(name)
            await self.db.execute("DELETE FROM projects WHERE name = ?", (name,))

    async def move(self, name: str, old_path: str, new_path: str) -> None:
        """Point the project at ``new_path``; runs that worked in the checkout follow it."""
        async with self.db.transaction():
            await self.db.execute("UPDATE projects SET path = ? WHERE name = ?",
                                  (new_path, name))
            await self.runs.follow_move(name, old_path, new_path)

    # -- workspaces ---------------------------------------------------------------------------

    async def add_workspace(self, path: str) -> None:
        await self.db.execute("INSERT OR IGNORE INTO workspaces (path, created_at) VALUES (?, ?)",
                              (path, time.time()))

    async def workspaces(self) -> list[tuple[str, float]]:
        """(path, created_at) of every workspace, by path."""
        rows = await self.db.fetchall("SELECT path, created_at FROM workspaces ORDER BY path")
        return [(r["path"], r["created_at"]) for r in rows]

    async def remove_workspace(self, path: str) -> bool:
        """Forget the workspace; its projects stay, unlinked. False when it was not there."""
        async with self.db.transaction():
            await self.db.execute("UPDATE projects SET workspace = NULL WHERE workspace = ?",
                                  (path,))
            return bool(await self.db.execute("DELETE FROM workspaces WHERE path = ?", (path,)))

    # -- pre-approved tools -------------------------------------------------------------------

    async def tool_rules(self, name: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT rule FROM permission_rules WHERE project = ? ORDER BY rule", (name,))
        return [r["rule"] for r in rows]

    async def allow(self, name: str, rule: str) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO permission_rules (project, rule, created_at) VALUES (?,?,?)",
            (name, rule, time.time()))

    async def disallow(self, name: str, rule: str) -> None:
        await self.db.execute("DELETE FROM permission_rules WHERE project = ? AND rule = ?",
                              (name, rule))
