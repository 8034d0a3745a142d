"""Projects (git repositories Gluon may run agents in) and workspaces (folders of them).

A project is a name for a repository's folder. Operations that work in the repository get the
project with :meth:`ProjectService.get`, which says what to do when the folder has gone (it was
moved: ``gluon project move``); the few that need only the name (listing its runs, its usage,
its rules, forgetting it) use :meth:`ProjectService.named`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from pydantic import BaseModel

from core.access.activity import ActivityLog
from core.errors import Conflict, InvalidInput, NotFound
from core.git import ops as gitops
from core.git import worktrees as git_worktrees
from core.models import Project, ProjectStatus
from core.projects.store import ProjectStore
from core.text_input import check_text, user_path
from core.types import ProjectName

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
NAME_MAX = 64


def check_name(name: str) -> str:
    if NAME_RE.fullmatch(name) and len(name) <= NAME_MAX:
        return name
    length = f" ({len(name)} characters)" if len(name) > NAME_MAX else ""
    raise InvalidInput(
        f"invalid project name {name!r}{length}; use 1 to {NAME_MAX} lowercase letters, "
        "digits, '.', '_' or '-', starting with a letter or digit (for example 'api' or "
        "'web-app')")


def suggest_name(path: Path) -> str:
    """A valid project name derived from a folder name ("My App" -> "my-app")."""
    name = re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-._")
    return name[:NAME_MAX].rstrip("-._") or "project"


class Workspace(BaseModel):
    """A registered folder of repositories and the projects found in it."""

    path: str
    created_at: float
    projects: list[str]


class WorkspaceRemoval(BaseModel):
    path: str
    removed: bool
    unlinked_projects: list[ProjectName]


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


def _existing_folder(path: str, what: str) -> Path:
    folder = user_path(path)
    try:
        if folder.is_dir():
            return folder
    except OSError as exc:  # a name too long for the file system, ...
        raise InvalidInput(f"{what} {path[:100]!r} cannot be a folder: {exc.strerror}") from exc
    raise InvalidInput(f"{what} {str(folder)!r} does not exist or is not a folder")


class ProjectService:
    def __init__(self, store: ProjectStore, activity: ActivityLog) -> None:
        self.store = store
        self.activity = activity

    async def add(self, name: str | None, path: str, *, workspace: str | None = None,
                  trusted: bool = False, actor: str = "cli") -> Project:
        folder = _existing_folder(path, "path")
        root = await gitops.repo_root(folder)
        name = check_name(name if name is not None else suggest_name(root))
        if await self.store.get(name):
            raise Conflict(f"a project named {name!r} already exists; pick another name or "
                           f"remove it first with `gluon project remove {name}`")
        other = await self.store.name_at(str(root))
        if other:
            raise Conflict(f"{str(root)!r} is already registered as project {other!r}")
        project = Project(name=ProjectName(name), path=str(root), workspace=workspace,
                          trusted=trusted, created_at=time.time())
        await self.store.insert(project)
        await self.activity.record(actor, "project.add", name, "ok", str(root))
        return project

    async def get(self, name: str) -> Project:
        """The project, for an operation in its repository: refused, saying how to tell Gluon
        where it went, when its folder no longer exists."""
        project = await self.named(name)
        if not Path(project.path).is_dir():
            raise Conflict(f"project {project.name!r} was at {project.path!r}, which no longer "
                           "exists; if you moved the repository, tell Gluon where it is now "
                           f"with `gluon project move {project.name} NEW_PATH` (or forget it "
                           f"with `gluon project remove {project.name}`)")
        return project

    async def named(self, name: str) -> Project:
        """The registered project, whether or not its folder is still there."""
        project = await self.store.get(name)
        if project is None:
            names = [p.name for p in await self.store.all()]
            known = f"; known projects: {', '.join(names)}" if names else (
                "; add one with `gluon project add PATH`")
            raise NotFound(f"no project named {name!r}{known}")
        return project

    async def all(self) -> list[Project]:
        return await self.store.all()

    async def show(self, name: str) -> ProjectStatus:
        project = await self.get(name)
        status = await gitops.repo_status(Path(project.path))
        live = await self.store.live_runs(name)
        return ProjectStatus(**project.model_dump(), branch=status.branch, head=status.head,
                             dirty=status.dirty, upstream=status.upstream, ahead=status.ahead,
                             behind=status.behind, live_runs=len(live))

    async def remove(self, name: str, *, actor: str = "cli") -> Project:
        """Forget a project. Never deletes files; refuses while it has live runs."""
        project = await self.named(name)
        await self._no_live_runs(project.name, "cancel it first")
        await self.store.remove(project.name)
        await self.activity.record(actor, "project.remove", name, "ok", project.path)
        return project

    async def move(self, name: str, path: str, *, actor: str = "cli") -> Project:
        """Point a project at the folder its repository was moved to.

        Its runs, branches and worktrees stay: git's links between the repository and the
        runs' worktrees are repaired, and runs that worked in the checkout itself follow it.
        The folder must hold the same repository (the commits the runs started from); refused
        while the project has live runs. Moving to where it already is changes nothing."""
        project = await self.named(name)
        folder = user_path(path)
        if not folder.is_dir():
            raise InvalidInput(f"path {str(folder)!r} does not exist or is not a folder")
        root = await gitops.repo_root(folder)
        if str(root) == project.path:
            return project
        other = await self.store.name_at(str(root))
        if other:
            raise Conflict(f"{str(root)!r} is already registered as project {other!r}")
        await self._no_live_runs(project.name, "wait for it to end, or cancel it, first")
        base = await self.store.newest_base_sha(project.name)
        if base is not None and not await gitops.has_commit(root, base):
            raise InvalidInput(f"{str(root)!r} is not the repository of project "
                               f"{project.name!r}: it lacks commit {base[:12]}, "
                               "which the project's runs started from")
        await git_worktrees.repair_worktrees(root)
        await self.store.move(project.name, project.path, str(root))
        await self.activity.record(actor, "project.move", project.name, "ok",
                                   f"{project.path} -> {root}")
        return project.model_copy(update={"path": str(root)})

    async def _no_live_runs(self, name: str, advice: str) -> None:
        live = await self.store.live_runs(name)
        if live:
            raise Conflict(f"project {name!r} has live run {live[0]!r}; {advice}")

    # -- workspaces ---------------------------------------------------------------------------

    async def add_workspace(self, path: str, *, actor: str = "cli") -> list[Project]:
        """Register a folder of repositories; every git repo inside becomes a project."""
        folder = _existing_folder(path, "workspace")
        await self.store.add_workspace(str(folder))
        await self.activity.record(actor, "workspace.add", str(folder), "ok")
        return await self.rescan(str(folder))

    async def rescan(self, path: str | None = None) -> list[Project]:
        """Add the repositories that appeared in workspaces since the last scan; return them."""
        folders = [path for path, _ in await self.store.workspaces()]
        if path is not None:
            folders = [f for f in folders if f == str(user_path(path))]
        known = {p.path for p in await self.all()}
        names: set[str] = {p.name for p in await self.all()}
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
        projects = await self.store.all()
        return [Workspace(path=path, created_at=created_at,
                          projects=[p.name for p in projects if p.workspace == path])
                for path, created_at in await self.store.workspaces()]

    async def remove_workspace(self, path: str, *, actor: str = "cli") -> WorkspaceRemoval:
        """Forget a workspace: its projects stay registered but no longer belong to it, and
        rescans stop looking in it. Touches nothing on disk; a second call changes nothing."""
        folder = str(user_path(path))
        linked = [p.name for p in await self.store.all() if p.workspace == folder]
        removed = await self.store.remove_workspace(folder)
        if removed:
            await self.activity.record(actor, "workspace.remove", folder, "ok",
                                       ", ".join(linked))
        return WorkspaceRemoval(path=folder, removed=removed, unlinked_projects=linked)

    # -- pre-approved tools -------------------------------------------------------------------

    async def tool_rules(self, name: str) -> list[str]:
        """The tools every run of the project may use without asking ("Always for this
        project")."""
        await self.named(name)
        return await self.store.tool_rules(name)

    async def set_tool_rule(self, name: str, rule: str, allowed: bool, *,
                            actor: str = "cli") -> list[str]:
        """Add (allowed) or remove a pre-approved tool rule; return the project's rules. Runs
        started afterwards see the change."""
        project = await self.named(name)
        rule = check_rule(rule)
        if allowed:
            await self.store.allow(project.name, rule)
        else:
            await self.store.disallow(project.name, rule)
        await self.activity.record(actor, "project.allow" if allowed else "project.disallow",
                                   project.name, "ok", rule)
        return await self.tool_rules(project.name)
