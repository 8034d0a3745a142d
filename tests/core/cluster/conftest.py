"""A project's source for the cluster's tests: the user's repository on the coordinator and a
bare remote it was cloned to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core.cluster.transfer.source import Source
from tests.conftest import git, make_repo
from tests.core.jobs.redis_server import RedisServer

RUN = "3f2a9c1e0b7d4a65"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of ``redis_server`` that answers strings."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


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
