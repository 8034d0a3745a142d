"""``/git/<project>.git``: the coordinator serves a local-only project to workers over git's
smart HTTP, from the real app on a real port, to real git."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bots.app import build_app
from bots.chat.migrations import CHAT_TABLES
from bots.http_server import HttpServer
from core.cluster.transfer.code import SourceUnreachable, WorkerCode, receive
from core.cluster.transfer.pushes import pkt_line
from core.cluster.transfer.served import ServedRepos
from core.cluster.transfer.source import TOKEN_HEADER, Source, coordinator_source, source_for
from core.config import ClusterConfig, Config
from core.runtime import Runtime
from mcp_tools.server import build_server
from tests.conftest import daemon_environ, git

TOKEN = "cluster-secret-0123456789abcdef"
RUN = "5b1e0c2d9a8f7e61"


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


class Coordinator:
    def __init__(self, runtime: Runtime, url: str, repo: Path) -> None:
        self.runtime = runtime
        self.url = url  # http://127.0.0.1:PORT
        self.repo = repo


async def serve(config: Config, repo: Path) -> AsyncIterator[Coordinator]:
    runtime = Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES])
    await runtime.open()
    await runtime.projects.add("demo", str(repo))
    server, _ = build_server(runtime)
    app = build_app(config, server, repos=ServedRepos(config.cluster.token, runtime.projects))
    http = HttpServer(app, config, port=0)
    try:
        url = await http.start()
        yield Coordinator(runtime, url.removesuffix("/mcp"), repo)
    finally:
        await http.stop()
        await runtime.close()


@pytest.fixture
async def coordinator(config: Config, repo: Path) -> AsyncIterator[Coordinator]:
    with_token = config.model_copy(update={"cluster": ClusterConfig(token=SecretStr(TOKEN))})
    async for served in serve(with_token, repo):
        yield served


def worker(tmp_path: Path, name: str, token: str | None = TOKEN) -> WorkerCode:
    return WorkerCode(tmp_path / name, token)


async def test_a_worker_fetches_a_local_project_and_pushes_its_runs_branch_into_it(
        tmp_path: Path, coordinator: Coordinator) -> None:
    project = await coordinator.runtime.projects.get("demo")
    source = await source_for(coordinator.runtime.config, project, coordinator.url)
    assert source == Source(f"{coordinator.url}/git/demo.git", coordinator=True)

    code = worker(tmp_path, "worker-a")
    checkout = await code.prepare("demo", source, RUN, "main")
    assert (checkout.worktree / "README.md").read_text() == "# demo\n"
    (checkout.worktree / "feature.py").write_text("x = 1\n")
    git(checkout.worktree, "add", "feature.py")
    git(checkout.worktree, "commit", "-q", "-m", "feature")
    head = await code.publish(checkout)

    assert head is not None
    assert git(coordinator.repo, "rev-parse", f"gluon/{RUN}") == head
    assert await receive(coordinator.repo, source, RUN) == head  # already there: a check
    # Another host takes the run over from what the coordinator holds.
    again = await worker(tmp_path, "worker-b").prepare("demo", source, RUN, "main")
    assert again.resumed and (again.worktree / "feature.py").read_text() == "x = 1\n"


async def test_a_push_to_any_branch_but_a_runs_is_refused_and_nothing_is_stored(
        tmp_path: Path, coordinator: Coordinator) -> None:
    source = coordinator_source(coordinator.url, "demo")
    checkout = await worker(tmp_path, "worker").prepare("demo", source, RUN, "main")
    (checkout.worktree / "evil.txt").write_text("overwrite main\n")
    git(checkout.worktree, "add", "evil.txt")
    git(checkout.worktree, "commit", "-q", "-m", "evil")
    evil = git(checkout.worktree, "rev-parse", "HEAD")
    main = git(coordinator.repo, "rev-parse", "main")

    pushed = await git_push(checkout.worktree, source.url, f"HEAD:refs/heads/gluon/{RUN}",
                      "HEAD:refs/heads/main", "HEAD:refs/tags/v1")
    assert pushed.returncode != 0
    assert "[remote rejected] HEAD -> main (Gluon workers may push only refs/heads/gluon/*)" \
        in pushed.stderr
    assert "(another ref of this push was refused)" in pushed.stderr
    assert git(coordinator.repo, "rev-parse", "main") == main
    assert git(coordinator.repo, "branch", "--list", f"gluon/{RUN}") == ""
    assert git(coordinator.repo, "tag", "--list") == ""
    assert (await git_run(coordinator.repo, "cat-file", "-e", evil)).returncode != 0


async def test_a_compressed_push_is_read_and_refused_the_same(
        coordinator: Coordinator) -> None:
    main = git(coordinator.repo, "rev-parse", "main")
    request = pkt_line(f"{main} {'1' * 40} refs/heads/main\0report-status\n".encode())
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{coordinator.url}/git/demo.git/git-receive-pack",
            content=gzip.compress(request + b"0000PACK"),
            headers={TOKEN_HEADER: TOKEN, "Content-Encoding": "gzip",
                     "Content-Type": "application/x-git-receive-pack-request"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-git-receive-pack-result"
    assert b"ng refs/heads/main Gluon workers may push only refs/heads/gluon/*" in answer.content
    assert git(coordinator.repo, "rev-parse", "main") == main


async def test_a_worker_without_the_right_token_gets_nothing(
        tmp_path: Path, coordinator: Coordinator, caplog: pytest.LogCaptureFixture) -> None:
    source = coordinator_source(coordinator.url, "demo")
    for name, token in (("missing", None), ("wrong", "not-the-cluster-token-at-all")):
        with caplog.at_level(logging.DEBUG), pytest.raises(SourceUnreachable) as refused:
            await worker(tmp_path, name, token).prepare("demo", source, RUN, "main")
        message = str(refused.value)
        assert "error: 403" in message and "cluster token is missing or wrong" in message
        assert "\n" not in message
    async with httpx.AsyncClient() as http:
        pushed = await http.post(f"{source.url}/git-receive-pack", content=b"0000",
                                 headers={TOKEN_HEADER: "wrong"})
        unknown = await http.get(f"{coordinator.url}/git/other.git/info/refs",
                                 params={"service": "git-upload-pack"},
                                 headers={TOKEN_HEADER: TOKEN})
        dumb = await http.get(f"{source.url}/HEAD", headers={TOKEN_HEADER: TOKEN})
    assert pushed.status_code == 403
    assert unknown.status_code == 404 and "no project 'other'" in unknown.text
    assert dumb.status_code == 404
    assert TOKEN not in caplog.text


async def test_without_a_cluster_token_the_coordinator_serves_no_repository(
        tmp_path: Path, config: Config, repo: Path) -> None:
    assert config.cluster.token is None
    async for coordinator in serve(config, repo):
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{coordinator.url}/git/demo.git/info/refs",
                                    params={"service": "git-upload-pack"},
                                    headers={TOKEN_HEADER: TOKEN})
        assert answer.status_code == 404 and "[cluster] token is not set" in answer.text
        with pytest.raises(SourceUnreachable):
            await worker(tmp_path, "w").prepare(
                "demo", coordinator_source(coordinator.url, "demo"), RUN, "main")


async def git_run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Done:
    """git, without blocking the event loop the coordinator's server runs on."""
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Done(proc.returncode, out.decode(), err.decode())


async def git_push(cwd: Path, url: str, *refspecs: str) -> Done:
    """A push as a worker's git makes it, token included, without Gluon's own checks."""
    return await git_run(cwd, "push", url, *refspecs, env={
        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"{TOKEN_HEADER}: {TOKEN}", "GIT_TERMINAL_PROMPT": "0"})
