"""A project's source for the cluster's tests: the user's repository on the coordinator and a
bare remote it was cloned to."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cluster.source import Source
from tests.conftest import git, make_repo

RUN = "3f2a9c1e0b7d4a65"


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """The user's checkout on the coordinator, whose origin is the bare remote."""
    repo = make_repo(tmp_path / "coordinator" / "demo")
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "remote.git"))
    git(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))
    git(repo, "fetch", "-q", "origin")
    return repo


@pytest.fixture
def source(user_repo: Path) -> Source:
    return Source(str(user_repo.parent.parent / "remote.git"))


def commit(worktree: Path, name: str, text: str) -> str:
    """Commit a new file in ``worktree`` as an agent does; the new head."""
    (worktree / name).write_text(text)
    git(worktree, "add", name)
    git(worktree, "commit", "-q", "-m", f"add {name}")
    return git(worktree, "rev-parse", "HEAD")
