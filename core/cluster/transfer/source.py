"""A project's *source* in a cluster: the one git URL a worker host fetches the project from
and pushes its runs' branches (``gluon/<run>``) to. Code moves through git, never a shared disk.

Which URL (:func:`source_for`, on the coordinator):

1. the project's ``[projects.NAME] remote``, when set;
2. else its ``origin``'s URL, when that is a network URL (``https://``, ``ssh://``,
   ``git://``, ``user@host:path``): a path or ``file://`` URL names a folder of this host only;
3. else the coordinator's own repository, served over git's smart HTTP at
   ``<coordinator>/git/<project>.git`` (see :mod:`core.cluster.transfer.served`).

Credentials in a URL are dropped (the source travels in job payloads, which hold no secrets):
workers reach a remote with credentials of their own (an SSH key, a credential helper). The
coordinator's route takes the cluster token instead, as an HTTP header (:data:`TOKEN_HEADER`)
set through ``GIT_CONFIG_*`` variables in git's environment (:func:`token_env`): never on a
command line, in a URL or in a file, and never sent to any other host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.config import Config
from core.errors import Conflict, InvalidInput
from core.git import ops as gitops
from core.jobs.types import Json
from core.models import Project

TOKEN_HEADER = "X-Gluon-Cluster-Token"
"""The HTTP header that carries the cluster token to the coordinator's git route."""

_CREDENTIALS = re.compile(r"^(\w[\w+.-]*://)[^/@]*@")
_SCP_LIKE = re.compile(r"^[^/:]+:[^/]")  # user@host:path or host:path (not C:\ on Windows)


@dataclass(frozen=True)
class Source:
    """Where a worker fetches a project and pushes its runs' branches.

    ``coordinator`` says the URL is the coordinator's own route: git calls to it carry the
    cluster token. ``payload()`` and ``from_payload()`` carry it in a job."""

    url: str
    coordinator: bool = False

    def __post_init__(self) -> None:
        if not self.url or self.url.startswith("-") or any(c.isspace() or c == "\0"
                                                            for c in self.url):
            raise InvalidInput(f"{self.url!r} is not a git URL; pass a URL such as "
                               "'https://github.com/OWNER/REPO.git'")

    def payload(self) -> dict[str, Json]:
        return {"url": self.url, "coordinator": self.coordinator}

    @classmethod
    def from_payload(cls, data: object) -> Source:
        if not isinstance(data, dict) or not isinstance(data.get("url"), str) \
                or not isinstance(data.get("coordinator", False), bool):
            raise InvalidInput(f"a run's source must be {{'url': str, 'coordinator': bool}}, "
                               f"not {data!r}")
        return cls(data["url"], data.get("coordinator", False))


def without_credentials(url: str) -> str:
    """``url`` without a user or password (``https://tok@host/r`` -> ``https://host/r``)."""
    return _CREDENTIALS.sub(r"\1", url)


def is_network_url(url: str) -> bool:
    """Whether ``url`` names a repository another host can reach (not a path of this host)."""
    if "://" in url:
        return not url.startswith("file://")
    return bool(_SCP_LIKE.match(url))


def coordinator_source(coordinator_url: str, project: str) -> Source:
    """The coordinator's own repository of ``project``, as its git route serves it."""
    if not coordinator_url.startswith(("http://", "https://")):
        raise InvalidInput(f"the coordinator's URL {coordinator_url!r} must start with http:// "
                           "or https://, such as 'https://gluon.example.com'")
    return Source(f"{coordinator_url.rstrip('/')}/git/{project}.git", coordinator=True)


async def source_for(config: Config, project: Project, coordinator_url: str) -> Source:
    """Where workers fetch ``project`` and push its runs' branches (see the module's docstring);
    ``coordinator_url`` is the coordinator's address as workers reach it."""
    remote = config.project(project.name).remote
    if remote is not None:
        return Source(without_credentials(remote))
    origin = await gitops.config_value(Path(project.path), "remote.origin.url")
    if origin is not None and is_network_url(origin):
        return Source(without_credentials(origin))
    if config.cluster.token is None:
        raise Conflict(f"project {project.name!r} has no network remote, and the coordinator "
                       "serves its repositories to workers only with a cluster token; set "
                       f"[projects.{project.name}] remote to a git URL workers can reach, or "
                       "GLUON_CLUSTER_TOKEN on the coordinator and the workers")
    return coordinator_source(coordinator_url, project.name)


def token_env(source: Source, token: str | None) -> dict[str, str]:
    """Git's environment additions for a call to ``source``: the cluster token as an HTTP
    header, for the coordinator's route only (and no redirect, which would take the header
    to another host)."""
    if not source.coordinator or not token:
        return {}
    return {"GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"{TOKEN_HEADER}: {token}",
            "GIT_CONFIG_KEY_1": "http.followRedirects",
            "GIT_CONFIG_VALUE_1": "false"}
