"""Which Gluon owns a data dir, and how to reach it, found without loading Gluon.

The owner holds ``<home>/gluon.lock`` and, while it serves its tools over HTTP, names its
address in ``<home>/daemon.json`` with ``kind``: ``"serve"`` for the daemon, ``"command"`` for a
``gluon`` command's own Gluon, which lives only as long as that command. A command reaching an
owner needs the data dir and the bearer token, which this module reads from the environment and
the config file the way :func:`core.config.load_config` does, without validating the rest of
the configuration (that is the owner's business, and pydantic would cost every command time).
"""

from __future__ import annotations

import fcntl
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config_file import config_path


class ToolFailed(Exception):
    """A tool returned an error; the message is one line for the user."""


@dataclass(frozen=True)
class Owner:
    """The process that owns the data dir and serves its tools at ``url``."""

    url: str
    pid: int | None
    kind: str  # "serve" (the daemon) or "command" (a gluon command, for its own lifetime)

    @property
    def daemon(self) -> bool:
        return self.kind != "command"

    def describe(self) -> str:
        pid = f" with pid {self.pid}" if self.pid else ""
        return f"the Gluon daemon{pid}" if self.daemon else f"the gluon command{pid}"


class OwnerGone(ToolFailed):
    """The Gluon this command talked to stopped answering (it ended, or was killed)."""

    def __init__(self, owner: Owner, detail: str) -> None:
        self.owner = owner
        super().__init__(f"lost the connection to {owner.describe()} at {owner.url} ({detail})")


@dataclass(frozen=True)
class Where:
    """The data dir and the configured bearer token (None: the one in ``<home>/mcp-token``)."""

    home: Path
    configured_token: str | None

    def token(self) -> str | None:
        if self.configured_token:
            return self.configured_token
        try:
            return (self.home / "mcp-token").read_text().strip() or None
        except OSError:
            return None


class NeedsFullConfig(Exception):
    """The config file cannot be read here; loading the full config will say why."""


def where(env: Mapping[str, str] | None = None) -> Where:
    """The data dir and token as :func:`core.config.load_config` would find them.

    Raises NeedsFullConfig when the config file is missing or not TOML: the full loader then
    reports it in its one-line form."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = config_path(env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            raise NeedsFullConfig(str(path)) from None
    home = env.get("GLUON_HOME") or data.get("home") or "~/.gluon"
    server = data.get("server")
    token = env.get("GLUON_SERVER_TOKEN") or (
        server.get("token") if isinstance(server, dict) else None)
    if not isinstance(home, str) or (token is not None and not isinstance(token, str)):
        raise NeedsFullConfig(str(path))
    return Where(Path(home).expanduser().absolute(), token or None)


def lock_held(home: Path) -> bool:
    """True when a process holds the data dir's lock."""
    lock = home / "gluon.lock"
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def find_owner(home: Path) -> Owner | None:
    """The owner serving its tools, when the lock is held and ``daemon.json`` names a live
    process."""
    if not lock_held(home):
        return None
    try:
        data = json.loads((home / "daemon.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return None
    pid = data.get("pid")
    pid = pid if isinstance(pid, int) else None
    if pid is not None and not _alive(pid):
        return None  # left behind by a Gluon that was killed
    return Owner(data["url"], pid, str(data.get("kind") or "serve"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
