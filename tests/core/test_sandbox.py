"""The sandbox, attacked by scripted agents through the real Claude Code CLI under bubblewrap.

Each test asserts on what the agent saw (the tool results the model received) and on the host.
CI installs bubblewrap and socat, and the runs use ``agents.sandbox = "required"``, so these
tests fail (never skip) where the sandbox cannot run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from core.agent.sandbox import SandboxStatus, SandboxUnavailable, plan
from core.config import Config
from core.events.bus import InteractionRequested
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git, make_config, make_repo, wait_state
from tests.core.agent_procs import agent_pid
from tests.fakes import scripts as s
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer


@pytest.fixture
def daemon_home(tmp_path: Path) -> Path:
    """The daemon user's home, with the kind of secrets a developer's home holds."""
    home = tmp_path / "daemon-home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY----- SSH-SECRET\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("aws_secret_access_key = AWS-SECRET\n")
    return home


@pytest.fixture
async def boxed(tmp_path: Path, model_server: ScriptedModelServer,
                daemon_home: Path) -> AsyncIterator[Runtime]:
    config = make_config(tmp_path / "gluon-home", model_server, sandbox="required")
    rt = Runtime(config, environ={**daemon_environ(), "HOME": str(daemon_home)})
    await rt.open()
    try:
        yield rt
    finally:
        await rt.close()


@contextlib.asynccontextmanager
async def allowing_everything(rt: Runtime) -> AsyncIterator[None]:
    """A person who allows whatever the agent asks (the sandbox must hold regardless)."""
    async def answer() -> None:
        with rt.bus.subscribe(lambda e: isinstance(e, InteractionRequested)) as sub:
            async for event in sub:
                assert isinstance(event, InteractionRequested)
                await rt.runs.answer(event.interaction_id, "allow", actor="careless")

    task = asyncio.create_task(answer())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def attack(rt: Runtime, server: ScriptedModelServer, repo: Path, key: str,
                 steps: list[s.Step]) -> tuple[str, list[str]]:
    """Run a scripted agent; return its run id and the tool results it saw, step by step."""
    server.script(key, [*steps, s.text("done")])
    if not await rt.db.fetchone("SELECT 1 FROM projects WHERE name = 'demo'"):
        await rt.projects.add("demo", str(repo))
    async with allowing_everything(rt):
        run = await rt.runs.start_run("demo", key)
        done = await wait_state(rt, run.id)
    assert done.state is RunState.REVIEW, done.state_reason
    seen = []
    for step in range(1, len(steps) + 1):
        request = server.wait_for_request(partial(_is_step, key, step))
        seen.append(request.tool_results()[-1])
    return run.id, seen


def _is_step(key: str, step: int, request: RecordedRequest) -> bool:
    return request.script_key == key and request.step == step


async def test_an_agent_cannot_read_the_users_keys_or_files_outside_its_worktree(
        boxed: Runtime, repo: Path, model_server: ScriptedModelServer, daemon_home: Path,
        tmp_path: Path) -> None:
    planted = tmp_path / "planted-secret.txt"
    planted.write_text("PLANTED-SECRET\n")
    _, seen = await attack(boxed, model_server, repo, "SCRIPT:read", [
        s.bash(f"cat {daemon_home}/.ssh/id_rsa"),
        s.bash(f"cat {daemon_home}/.aws/credentials; ls -a {daemon_home}"),
        s.bash(f"cat {planted}"),
        s.tool("Read", {"file_path": str(planted)}),
        s.bash(f"cat {boxed.config.db_path} {boxed.config.home}/mcp-token; "
               f"ls {boxed.config.home}"),
        s.bash("cat /etc/shadow; ls /etc/ssh /root"),
    ])
    everything = "\n".join(seen)
    for secret in ("SSH-SECRET", "AWS-SECRET", "PLANTED-SECRET", "SQLite format"):
        assert secret not in everything
    assert "No such file or directory" in seen[0]
    assert "No such file or directory" in seen[2]
    assert "does not exist" in seen[3] or "No such file" in seen[3]
    assert "root:" not in seen[5]


async def test_an_agent_finds_no_token_in_its_environment(
        boxed: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run_id, [env] = await attack(boxed, model_server, repo, "SCRIPT:env", [
        s.bash("env; cat /proc/1/environ | tr '\\0' '\\n'")])
    assert "TELEGRAM-SECRET-TOKEN" not in env and "mcp-bearer-secret" not in env
    assert "GLUON_" not in env
    assert f"HOME={boxed.config.agent_homes_dir / run_id}" in env


async def test_the_api_key_reaches_the_agent_but_no_file_and_no_daemon_secret_does(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
        daemon_home: Path) -> None:
    key = f"sk-ant-api03-KNOWN-{secrets.token_hex(12)}"
    config = Config.model_validate({
        "home": str(tmp_path / "gluon-home"),
        "anthropic": {"api_key": key, "base_url": model_server.base_url},
        "agents": {"sandbox": "required"}})
    # Names only: what an agent prints is logged, and the value must not be in any file.
    model_server.script("SCRIPT:key", [s.bash("env | cut -d= -f1"), s.hold("key-env")])
    async with Runtime(config, environ={**daemon_environ(), "HOME": str(daemon_home)}) as rt:
        await rt.projects.add("demo", str(repo))
        run = await rt.runs.start_run("demo", "SCRIPT:key")
        held = await model_server.await_request(
            lambda r: r.script_key == "SCRIPT:key" and r.step == 1)
        # The Claude Code process itself, as the kernel sees it.
        environ = Path(f"/proc/{agent_pid(run.cwd)}/environ").read_bytes().split(b"\0")
        model_server.release("key-env")
        done = await wait_state(rt, run.id)
        assert done.state is RunState.REVIEW, done.state_reason
    assert held.headers["x-api-key"] == key
    assert f"ANTHROPIC_API_KEY={key}".encode() in environ
    assert not [v for v in environ if v.startswith(b"GLUON_")]
    names = held.tool_results()[-1].split()
    assert "ANTHROPIC_API_KEY" in names and not [n for n in names if n.startswith("GLUON_")]
    assert list((config.home / "launchers").iterdir()) == []
    holding = [str(f.relative_to(config.home)) for f in config.home.rglob("*")
               if f.is_file() and not f.is_symlink() and key.encode() in f.read_bytes()]
    assert holding == []


async def test_secrets_an_agent_prints_are_masked_in_its_logs_and_events(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    key = f"sk-ant-api03-PRINTED-{secrets.token_hex(12)}"
    telegram = daemon_environ()["GLUON_TELEGRAM_TOKEN"]
    config = Config.model_validate({
        "home": str(tmp_path / "gluon-home"),
        "anthropic": {"api_key": key, "base_url": model_server.base_url},
        "agents": {"env_allow": ["GLUON_TELEGRAM_TOKEN"]}})
    # The agent prints its key, a daemon secret it was (wrongly) let through, and says both.
    model_server.script("SCRIPT:leak", [
        s.bash('echo "key=$ANTHROPIC_API_KEY bot=$GLUON_TELEGRAM_TOKEN"'),
        s.text(f"the key is {key} and the bot token {telegram}")])
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run = await rt.runs.start_run("demo", "SCRIPT:leak")
        done = await wait_state(rt, run.id)
        assert done.state is RunState.REVIEW, done.state_reason
        events = " ".join(e.summary for e in await rt.runs.logs(run.id))
    logs = (config.logs_dir / run.id / "messages.jsonl").read_text()
    for record in (logs, events, done.last_message or ""):
        assert key not in record and telegram not in record
    assert "key=[secret] bot=[secret]" in logs
    assert "the key is [secret] and the bot token [secret]" in events


async def test_an_agent_cannot_write_outside_its_worktree(
        boxed: Runtime, repo: Path, model_server: ScriptedModelServer, tmp_path: Path) -> None:
    by_bash, by_tool = tmp_path / "by-bash.txt", tmp_path / "by-write-tool.txt"
    _, seen = await attack(boxed, model_server, repo, "SCRIPT:write-out", [
        s.bash(f"echo pwned > {by_bash}"),
        s.write(str(by_tool), "pwned\n"),
        s.bash(f"echo pwned >> {repo}/README.md; echo '#!/bin/sh' > "
               f"{repo}/.git/hooks/post-checkout"),
        s.bash("echo pwned > /usr/local/pwned; echo pwned > /etc/pwned"),
    ])
    assert not by_bash.exists() and not by_tool.exists()
    assert (repo / "README.md").read_text() == "# demo\n"
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()
    assert not Path("/usr/local/pwned").exists() and not Path("/etc/pwned").exists()
    assert "Read-only file system" in seen[2] or "No such file" in seen[2]


async def test_an_agent_cannot_touch_another_runs_worktree(
        boxed: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    first, _ = await attack(boxed, model_server, repo, "SCRIPT:victim",
                            [s.write("mine.txt", "mine\n")])
    victim = Path((await boxed.runs.get(first)).cwd)
    _, seen = await attack(boxed, model_server, repo, "SCRIPT:intruder", [
        s.bash(f"echo stolen >> {victim}/mine.txt; ls {victim}"),
        s.tool("Read", {"file_path": str(victim / "mine.txt")}),
        s.write(str(victim / "mine.txt"), "overwritten\n"),
    ])
    assert (victim / "mine.txt").read_text() == "mine\n"
    assert "No such file or directory" in seen[0]


async def test_an_agent_can_neither_remount_the_filesystem_nor_kill_the_daemon(
        boxed: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    _, seen = await attack(boxed, model_server, repo, "SCRIPT:escape", [
        s.bash("mount -o remount,rw / ; echo exit=$?"),
        s.bash("unshare -Urm sh -c 'mount --bind / /mnt' ; echo exit=$?"),
        s.bash(f"kill -9 {os.getpid()} ; echo exit=$?; ps -e | wc -l"),
    ])
    assert "exit=0" not in seen[0] and "exit=0" not in seen[1]
    assert "exit=0" not in seen[2] and "No such process" in seen[2]


async def test_a_normal_run_edits_commits_and_runs_the_projects_tests_in_the_sandbox(
        boxed: Runtime, tmp_path: Path, model_server: ScriptedModelServer) -> None:
    repo = make_repo(tmp_path / "proj")
    (repo / "test_app.py").write_text(
        "import unittest\nfrom app import add\n\n"
        "class T(unittest.TestCase):\n    def test_add(self):\n"
        "        self.assertEqual(add(2, 3), 5)\n")
    (repo / ".env").write_text("DATABASE_PASSWORD=ENV-SECRET\n")
    (repo / ".gitignore").write_text(".env\n")
    git(repo, "add", "test_app.py", ".gitignore")
    git(repo, "commit", "-qm", "tests")
    run_id, seen = await attack(boxed, model_server, repo, "SCRIPT:normal", [
        s.write("app.py", "def add(a, b):\n    return a + b  # checked\n"),
        s.bash("python3 -m unittest -q 2>&1; echo tests=$?"),
        s.bash("git add -A && git commit -qm 'check add' && git log --oneline | head -1"),
        s.bash("ls -a"),
    ])
    assert "tests=0" in seen[1]
    assert "check add" in seen[2]
    assert ".env" not in seen[3].split()
    run = await boxed.runs.get(run_id)
    assert [c.subject for c in run.commits] == ["check add"]
    assert git(repo, "show", f"{run.branch}:app.py").endswith("# checked")


async def test_an_untrusted_projects_hooks_never_run(
        boxed: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(
        '{"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", '
        '"command": "touch hook-ran"}]}]}}')
    git(repo, "add", ".claude")
    git(repo, "commit", "-qm", "hooks")
    run_id, _ = await attack(boxed, model_server, repo, "SCRIPT:hooks",
                             [s.bash("echo hello")])
    assert not Path((await boxed.runs.get(run_id)).cwd, "hook-ran").exists()


def test_a_required_sandbox_that_cannot_run_names_the_missing_package() -> None:
    missing = SandboxStatus(bwrap="/usr/bin/bwrap", socat=None, works=True,
                            problem="socat is missing, so agents cannot be sandboxed; install "
                                    "socat (apt-get install socat)")
    with pytest.raises(SandboxUnavailable, match=r"apt-get install socat"):
        plan("required", missing)
    auto = plan("auto", missing)
    assert auto.outer and not auto.inner
    off = plan("off", SandboxStatus("/usr/bin/bwrap", "/usr/bin/socat", True, ""))
    assert not off.outer and off.inner and not off.inner_required
