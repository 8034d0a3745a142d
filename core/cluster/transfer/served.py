"""The coordinator's own repositories, served to workers over git's smart HTTP at
``/git/<project>.git`` (the HTTP bridge is :mod:`bots.git_http`; this is what it asks).

- Off unless ``[cluster] token`` is set; every request must carry the token in the
  :data:`~core.cluster.transfer.source.TOKEN_HEADER` header (compared in constant time).
- Fetching (``git-upload-pack``) any registered project; pushing (``git-receive-pack``) only to
  the runs' branches ``refs/heads/gluon/*`` (see :mod:`core.cluster.transfer.pushes`), so the user's
  branches are read-only to workers. Nothing else is served (no "dumb" HTTP file access).
- ``git http-backend`` does the work, with hooks off (an agent may have pointed
  ``core.hooksPath`` into its worktree) and the objects of every push checked
  (``receive.fsckObjects``).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from core.errors import NotFound
from core.git import ops as gitops
from core.projects.service import ProjectService

SERVICES = {("GET", "info/refs"), ("POST", "git-upload-pack"), ("POST", "git-receive-pack")}
"""The smart-HTTP requests served: (method, path after ``<project>.git/``)."""

_PASSED_HEADERS = {"content-type": "CONTENT_TYPE", "git-protocol": "HTTP_GIT_PROTOCOL",
                   "content-encoding": "HTTP_CONTENT_ENCODING"}


class ServedRepos:
    """Which repositories the coordinator serves, to whom, and how ``git http-backend`` runs."""

    def __init__(self, token: SecretStr | None, projects: ProjectService) -> None:
        self._token = token.get_secret_value().encode() if token is not None else None
        self.projects = projects

    @property
    def on(self) -> bool:
        return self._token is not None

    def authorized(self, presented: str | None) -> bool:
        """Whether ``presented`` (the token header's value) is the cluster token."""
        return (self._token is not None and presented is not None
                and hmac.compare_digest(presented.strip().encode(), self._token))

    async def git_dir(self, project: str) -> Path:
        """The git dir of the registered ``project`` (NotFound for any other name)."""
        found = await self.projects.store.get(project)
        if found is None or not Path(found.path).is_dir():
            raise NotFound(f"no project {project!r} is served here")
        return await gitops.git_common_dir(Path(found.path))

    def cgi_environment(self, git_dir: Path, method: str, service: str, query: str,
                        headers: Mapping[str, str], remote_addr: str) -> dict[str, str]:
        """The CGI environment of ``git http-backend`` for one request (``headers`` with
        lower-case names)."""
        env = {name: value for name, value in os.environ.items()
               if name in ("PATH", "HOME", "LANG") or name.startswith("LC_")}
        env.update(
            GIT_PROJECT_ROOT=str(git_dir), PATH_INFO=f"/{service}", REQUEST_METHOD=method,
            QUERY_STRING=query, GIT_HTTP_EXPORT_ALL="1", REMOTE_USER="gluon-worker",
            REMOTE_ADDR=remote_addr,
            GIT_CONFIG_COUNT="3",
            GIT_CONFIG_KEY_0="core.hooksPath", GIT_CONFIG_VALUE_0="/dev/null",
            GIT_CONFIG_KEY_1="receive.fsckObjects", GIT_CONFIG_VALUE_1="true",
            GIT_CONFIG_KEY_2="http.receivepack", GIT_CONFIG_VALUE_2="true")
        for header, name in _PASSED_HEADERS.items():
            if header in headers:
                env[name] = headers[header]
        return env
