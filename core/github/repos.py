"""Which Gluon project a GitHub repository is: the project whose ``origin`` remote points at it.

``https://github.com/octo/api.git``, ``git@github.com:octo/api.git`` and
``ssh://git@ghe.example.com/octo/api`` are all ``octo/api``. The host is not compared (GitHub
Enterprise and github.com alike), the owner and name are, ignoring case as GitHub does. The
index is rebuilt when a repository is not found in it (at most once a second) and every minute,
so a project added or moved is found without a restart.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from core.git.remote import remote_url
from core.projects.service import ProjectService

_SCP = re.compile(r"^[\w.-]+@[\w.-]+:(?P<path>.+)$")  # git@github.com:octo/api.git
REFRESH_AFTER = 60.0
MISS_REFRESH = 1.0


def repo_of_url(url: str) -> str | None:
    """``owner/name`` of a GitHub remote URL, or None when it does not look like one."""
    url = url.strip()
    scp = _SCP.match(url)
    if scp:
        path = scp.group("path")
    elif url.startswith("file:"):
        return None
    elif "://" in url:
        path = url.split("://", 1)[1].split("/", 1)[1] if "/" in url.split("://", 1)[1] else ""
    else:
        return None  # a local path
    parts = [p for p in path.removesuffix("/").removesuffix(".git").split("/") if p]
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


class RepoIndex:
    def __init__(self, projects: ProjectService) -> None:
        self.projects = projects
        self._by_repo: dict[str, str] = {}  # owner/name (lower case) -> project
        self._repo_of: dict[str, str] = {}  # project -> owner/name as the remote spells it
        self._built = 0.0
        self._lock = asyncio.Lock()

    async def project_of(self, repo: str) -> str | None:
        """The project whose origin is ``repo`` (owner/name), or None."""
        key = repo.lower()
        now = time.monotonic()
        if now - self._built > REFRESH_AFTER or (
                key not in self._by_repo and now - self._built > MISS_REFRESH):
            await self.refresh()
        return self._by_repo.get(key)

    async def repo_of(self, project: str) -> str | None:
        """The GitHub repository (owner/name) of a project's origin, or None."""
        if project not in self._repo_of or time.monotonic() - self._built > REFRESH_AFTER:
            await self.refresh()
        return self._repo_of.get(project)

    async def refresh(self) -> None:
        async with self._lock:
            by_repo: dict[str, str] = {}
            repo_of: dict[str, str] = {}
            for project in await self.projects.all():
                try:
                    url = await remote_url(Path(project.path))
                except Exception:  # a project whose folder is gone has no remote to read
                    url = None
                repo = repo_of_url(url) if url else None
                if repo is not None:
                    by_repo.setdefault(repo.lower(), project.name)
                    repo_of[project.name] = repo
            self._by_repo, self._repo_of = by_repo, repo_of
            self._built = time.monotonic()
