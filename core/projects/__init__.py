"""Projects (git repositories agents may work in) and workspaces (folders of them).

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.projects.service import ProjectService as ProjectService
    from core.projects.service import Workspace as Workspace
    from core.projects.service import WorkspaceRemoval as WorkspaceRemoval
    from core.projects.store import ProjectStore as ProjectStore

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "ProjectService": "service",
    "Workspace": "service",
    "WorkspaceRemoval": "service",
    "ProjectStore": "store",
})
