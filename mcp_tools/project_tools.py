"""Tools for projects (git repositories) and workspaces (folders of them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.models import Project, ProjectStatus
from core.runtime import Runtime
from mcp_tools.params import ProjectRef
from mcp_tools.registry import ToolKit, actor


class ProjectList(BaseModel):
    projects: list[Project]


def register(kit: ToolKit, rt: Runtime) -> None:
    async def remove_preview(name: str) -> str:
        project = await rt.projects.named(name)
        return (f"forget project {project.name} ({project.path}) and its run history; no file "
                "or branch is deleted")

    @kit.tool(admin=True)
    async def add_project(
            path: Annotated[str, Field(description="the repository's folder on the Gluon host")],
            name: Annotated[str | None, Field(description="default: the folder's name")] = None,
            trusted: Annotated[bool, Field(description="load the repository's .claude "
                                           "settings and hooks")] = False) -> Project:
        """Register a git repository as a project so agents can work on it.

        `path` is the repository's folder on the Gluon host; `name` defaults to the folder name
        (1 to 64 lowercase letters, digits, '.', '_' and '-'). Mark a project `trusted` only if its
        `.claude/settings.json` hooks may run. Returns the new project.
        """
        return await rt.projects.add(name, path, trusted=trusted)

    @kit.tool(read_only=True)
    async def list_projects() -> ProjectList:
        """List every registered project with its path. Use it to find a project's name."""
        return ProjectList(projects=await rt.projects.all())

    @kit.tool(read_only=True)
    async def get_project(name: ProjectRef) -> ProjectStatus:
        """Show a project's checkout: current branch, whether it has uncommitted changes,
        commits ahead of/behind its upstream, and how many runs are live on it."""
        return await rt.projects.show(name)

    @kit.tool(destructive=True, admin=True, preview=remove_preview)
    async def remove_project(name: ProjectRef) -> Project:
        """Forget a project and its run history. Never deletes any file or branch; refuses
        while the project has live runs."""
        return await rt.runs.remove_project(name, actor=actor())

    @kit.tool(idempotent=True, admin=True)
    async def move_project(
            name: ProjectRef,
            path: Annotated[str, Field(description="the folder on the Gluon host where the "
                                       "repository is now")]) -> Project:
        """Tell Gluon where a project's repository is after it was moved or renamed on disk.

        Use it when an operation says the project's folder no longer exists. Runs, branches
        and worktrees are kept (git's worktree links are repaired). The folder must hold the
        same repository; refused while the project has live runs. Returns the project.
        """
        return await rt.projects.move(name, path, actor=actor())

    @kit.tool(admin=True)
    async def add_workspace(path: Annotated[str, Field(
            description="a folder whose git repositories become projects")]) -> ProjectList:
        """Register a folder that holds git repositories; each repository inside becomes a
        project (named after its folder). Returns the projects added."""
        return ProjectList(projects=await rt.projects.add_workspace(path))

    @kit.tool(idempotent=True, admin=True)
    async def scan_workspace() -> ProjectList:
        """Look for repositories that appeared in registered workspaces since the last scan and
        add them as projects. Returns the projects added."""
        return ProjectList(projects=await rt.projects.rescan())
