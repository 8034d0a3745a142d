"""Projects (git repositories Gluon may run agents in) and workspaces (folders of them)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import aiosqlite
from pydantic import BaseModel

from core import gitops
from core.activity import ActivityLog
from core.db import Database
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Project, ProjectStatus
from core.text_input import check_text
from core.types import LIVE_STATES

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or len(name) > 64:
        raise InvalidInput(
            f"invalid project name {name!r}; use lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (for example 'api' or 'web-app')")
    return name


def suggest_name(path: Path) -> str:
    """A valid project name derived from a folder name ("My App" -> "my-app")."""
    name = re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-._")
    return name or "project"


class Workspace(BaseModel):
    """A registered folder of repositories and the projects found in it."""

    path: str
    created_at: float
    projects: list[str]


class WorkspaceRemoval(BaseModel):
    path: str
    removed: bool
    unlinked_projects: list[str]


RULE_MAX = 200


def check_rule(rule: str) -> str:
    """A Claude Code permission rule: a tool name, optionally with a specifier in parentheses
    ("Edit", "Bash(npm test:*)", "mcp__github")."""
    rule = check_text(rule, "tool").strip()
    if not rule or len(rule) > RULE_MAX or "\n" in rule or not rule[0].isalpha():
        raise InvalidInput(f"invalid tool rule {rule!r}; use a Claude Code tool name, "
                           "optionally with a pattern, such as 'Edit', 'WebFetch' or "
                           "'Bash(npm test:*)'")
    return rule


def _row(row: aiosqlite.Row) -> Project:
    return Project(name=row["name"], path=row["path"], workspace=row["workspace"],
                   trusted=bool(row["trusted"]), created_at=row["created_at"])


def _existing_folder(path: str, what: str) -> Path:
    folder = Path(path).expanduser().absolute()
    try:
        if folder.is_dir():
            return folder
    except OSError as exc:  # a name too long for the file system, ...
        raise InvalidInput(f"{what} {path[:100]!r} cannot be a folder: {exc.strerror}") from exc
    raise InvalidInput(f"{what} {str(folder)!r} does not exist or is not a folder")


class ProjectService:
    def __init__(self, db: Database, activity: ActivityLog) -> None:
        self.db = db
        self.activity = activity

    async def add(self, name: str | None, path: str, *, workspace: str | None = None,
                  trusted: bool = False, actor: str = "cli") -> Project:
        folder = _existing_folder(path, "path")
        root = await gitops.repo_root(folder)
        name = check_name(name if name is not None else suggest_name(root))
        if await self.db.fetchone("SELECT 1 FROM projects WHERE name = ?", (name,)):
            raise Conflict(f"a project named {name!r} already exists; pick another name or "
                           f"remove it first with `gluon project remove {name}`")
        other = await self.db.fetchone("SELECT name FROM projects WHERE path = ?", (str(root),))
        if other:
            raise Conflict(f"{str(root)!r} is already registered as project {other['name']!r}")
        now = time.time()
        await self.db.execute(
            "INSERT INTO projects (name, path, workspace, trusted, created_at) VALUES (?,?,?,?,?)",
            (name, str(root), workspace, int(trusted), now))
        await self.activity.record(actor, "project.add", name, "ok", str(root))
        return Project(name=name, path=str(root), workspace=workspace, trusted=trusted,
                       created_at=now)

    async def get(self, name: str) -> Project:
        row = await self.db.fetchone("SELECT * FROM projects WHERE name = ?", (name,))
        if row is None:
            names = [r["name"] for r in await self.db.fetchall(
                "SELECT name FROM projects ORDER BY name")]
            known = f"; known projects: {', '.join(names)}" if names else (
                "; add one with `gluon project add PATH`")
            raise NotFound(f"no project named {name!r}{known}")
        return _row(row)

    async def all(self) -> list[Project]:
        return [_row(r) for r in await self.db.fetchall("SELECT * FROM projects ORDER BY name")]

    async def show(self, name: str) -> ProjectStatus:
        project = await self.get(name)
        status = await gitops.repo_status(Path(project.path))
        live = await self.db.fetchone(
            f"SELECT COUNT(*) FROM runs WHERE project = ? AND state IN "
            f"({','.join('?' * len(LIVE_STATES))})", (name, *LIVE_STATES))
        return ProjectStatus(**project.model_dump(), branch=status.branch, head=status.head,
                             dirty=status.dirty, upstream=status.upstream, ahead=status.ahead,
                             behind=status.behind, live_runs=int(live[0]) if live else 0)

    async def remove(self, name: str, *, actor: str = "cli") -> Project:
        """Forget a project. Never deletes files; refuses while it has live runs."""
        project = await self.get(name)
        live = await self.db.fetchone(
            f"SELECT id FROM runs WHERE project = ? AND state IN "
            f"({','.join('?' * len(LIVE_STATES))}) LIMIT 1", (name, *LIVE_STATES))
        if live:
            raise Conflict(f"project {name!r} has live run {live['id']!r}; cancel it first")
        async with self.db.transaction():
            await self.db.execute("DELETE FROM usage WHERE project = ?", (name,))
            await self.db.execute("UPDATE runs SET parent_id = NULL WHERE project = ?", (name,))
            await self.db.execute("DELETE FROM runs WHERE project = ?", (name,))
            await self.db.execute("DELETE FROM projects WHERE name = ?", (name,))
        await self.activity.record(actor, "project.remove", name, "ok", project.path)
        return project

    # -- workspaces ---------------------------------------------------------------------------

    async def add_workspace(self, path: str, *, actor: str = "cli") -> list[Project]:
        """Register a folder of repositories; every git repo inside becomes a project."""
        folder = _existing_folder(path, "workspace")
        await self.db.execute("INSERT OR IGNORE INTO workspaces (path, created_at) VALUES (?, ?)",
                              (str(folder), time.time()))
        await self.activity.record(actor, "workspace.add", str(folder), "ok")
        return await self.rescan(str(folder))

    async def rescan(self, path: str | None = None) -> list[Project]:
        """Add the repositories that appeared in workspaces since the last scan; return them."""
        rows = await self.db.fetchall("SELECT path FROM workspaces")
        folders = [r["path"] for r in rows]
        if path is not None:
            folders = [f for f in folders if f == str(Path(path).expanduser().absolute())]
        known = {p.path for p in await self.all()}
        names = {p.name for p in await self.all()}
        added: list[Project] = []
        for folder in folders:
            for repo in await gitops.discover_repos(Path(folder)):
                if str(repo) in known:
                    continue
                name = base = suggest_name(repo)
                n = 2
                while name in names:
                    name, n = f"{base}-{n}", n + 1
                added.append(await self.add(name, str(repo), workspace=folder, actor="rescan"))
                names.add(name)
        return added

    async def workspaces(self) -> list[Workspace]:
        rows = await self.db.fetchall("SELECT path, created_at FROM workspaces ORDER BY path")
        linked = await self.db.fetchall(
            "SELECT workspace, name FROM projects WHERE workspace IS NOT NULL ORDER BY name")
        return [Workspace(path=r["path"], created_at=r["created_at"],
                          projects=[p["name"] for p in linked if p["workspace"] == r["path"]])
                for r in rows]

    async def remove_workspace(self, path: str, *, actor: str = "cli") -> WorkspaceRemoval:
        """Forget a workspace: its projects stay registered but no longer belong to it, and
        rescans stop looking in it. Touches nothing on disk; a second call changes nothing."""
        folder = str(Path(path).expanduser().absolute())
        linked = [r["name"] for r in await self.db.fetchall(
            "SELECT name FROM projects WHERE workspace = ? ORDER BY name", (folder,))]
        async with self.db.transaction():
            await self.db.execute("UPDATE projects SET workspace = NULL WHERE workspace = ?",
                                  (folder,))
            removed = await self.db.execute("DELETE FROM workspaces WHERE path = ?", (folder,))
        if removed:
            await self.activity.record(actor, "workspace.remove", folder, "ok",
                                       ", ".join(linked))
        return WorkspaceRemoval(path=folder, removed=bool(removed), unlinked_projects=linked)

    # -- pre-approved tools -------------------------------------------------------------------

    async def tool_rules(self, name: str) -> list[str]:
        """The tools every run of the project may use without asking ("Always for this
        project")."""
        await self.get(name)
        rows = await self.db.fetchall(
            "SELECT rule FROM permission_rules WHERE project = ? ORDER BY rule", (name,))
        return [r["rule"] for r in rows]

    async def set_tool_rule(self, name: str, rule: str, allowed: bool, *,
                            actor: str = "cli") -> list[str]:
        """Add (allowed) or remove a pre-approved tool rule; return the project's rules. Runs
        started afterwards see the change."""
        project = await self.get(name)
        rule = check_rule(rule)
        if allowed:
            await self.db.execute(
                "INSERT OR IGNORE INTO permission_rules (project, rule, created_at) "
                "VALUES (?,?,?)", (project.name, rule, time.time()))
        else:
            await self.db.execute("DELETE FROM permission_rules WHERE project = ? AND rule = ?",
                                  (project.name, rule))
        await self.activity.record(actor, "project.allow" if allowed else "project.disallow",
                                   project.name, "ok", rule)
        return await self.tool_rules(project.name)
