"""Shared fixtures: real git repositories, a real data dir, the real CLI against the scripted
model server."""

from __future__ import annotations

import asyncio
import atexit
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bots.chat.migrations import CHAT_TABLES
from core.config import Config
from core.events.bus import RunStateChanged
from core.models import Run
from core.runtime import Runtime
from core.types import RunState
from tests import outside_world, tool_schemas
from tests.fakes.model_server import ScriptedModelServer

# Test modules are compiled (and their asserts rewritten) once, not by every worker on every
# run, even where the environment says PYTHONDONTWRITEBYTECODE: about 5 s of CPU per worker.
sys.dont_write_bytecode = False

tool_schemas.install()

# Ctrl-C reaches the commands the tests start as it does in a terminal, even when the suite
# itself was started with SIGINT ignored (in the background of a script), which every child
# would inherit.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection loaded (every test module and what it imports) stays for the whole
    run: the garbage collector leaves it alone from now on. A full collection (Python's own,
    and the one each in-process ``gluon`` command makes as it ends) then walks only what tests
    create, not a heap of modules that never becomes garbage."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def no_outside_world(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: the real model APIs and chat platforms cannot be reached (see
    ``tests.outside_world``)."""
    outside_world.install(monkeypatch.setattr)


GIT_ENV = {"GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "test@example.com"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def _build_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    (path / "README.md").write_text("# demo\n")
    (path / "app.py").write_text("def add(a, b):\n    return a + b\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


_template: Path | None = None


def make_repo(path: Path) -> Path:
    """A git repository at ``path``: branch main, one commit of README.md and app.py. A copy
    of one built once per process (six git commands), which costs a tenth of building it."""
    global _template
    if _template is None:
        where = Path(tempfile.mkdtemp(prefix="gluon-test-repo-"))
        atexit.register(shutil.rmtree, where, ignore_errors=True)
        _template = _build_repo(where / "demo")
    shutil.copytree(_template, path, symlinks=True, dirs_exist_ok=True)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "demo")


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_config(home: Path, server: ScriptedModelServer, **agents: object) -> Config:
    """A config on ``home`` against ``server``. Without warm agents (``warm=0``) unless a test
    asks for them (tests/core/test_warm.py does): each is a Claude Code start a test of
    something else would pay for and not look at. Without quality gates, which would run the
    tests a test's repository holds after every run (tests/core/gates turn them on)."""
    return Config.model_validate({
        "home": str(home),
        "anthropic": {"api_key": "sk-test", "base_url": server.base_url},
        "agents": {"max_concurrent": 4, "max_concurrent_per_project": 4, "warm": 0, **agents},
        "gates": {"enabled": False},
    })


def daemon_environ() -> dict[str, str]:
    """What a daemon's environment looks like: including secrets agents must never see."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "GLUON_TELEGRAM_TOKEN": "123456:TELEGRAM-SECRET-TOKEN",
            "GLUON_SERVER_TOKEN": "mcp-bearer-secret"}


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    return make_config(tmp_path / "home", model_server)


@pytest.fixture
async def runtime(config: Config) -> AsyncIterator[Runtime]:
    rt = Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES])
    await rt.open()
    try:
        yield rt
    finally:
        await rt.close()


ENDED = (RunState.REVIEW, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)


async def wait_state(rt: Runtime, run_id: str, *states: RunState,
                     timeout: float = 60) -> Run:  # noqa: ASYNC109
    """Wait (on the event bus, no polling) until the run is in one of ``states``."""
    wanted = states or ENDED
    with rt.bus.subscribe(lambda e: e.run_id == run_id and isinstance(e, RunStateChanged)) as sub:
        async with asyncio.timeout(timeout):
            run = await rt.runs.get(run_id)
            while run.state not in wanted:
                await sub.get()
                run = await rt.runs.get(run_id)
    return run


def session_saved(home: Path, session_id: str | None) -> bool:
    """Whether Claude Code has written session ``session_id`` of a run in the data dir ``home``
    to disk. It does so a moment after the turn's first answer, and only a saved session can be
    resumed: a Gluon killed before that starts the run afresh with its task."""
    return session_id is not None and any(
        home.glob(f"agent-homes/*/.claude/projects/*/{session_id}.jsonl"))


# A Bash command that runs until the test lets it end; it says when it has begun.
INSIDE_BASH = "echo started > started.flag; while [ ! -e release.flag ]; do sleep 0.1; done"


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded, 60 s) for something another process does, such as a file appearing."""
    for _ in range(1200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen in 60 s")
