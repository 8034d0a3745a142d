"""The merge queue's local test gate: a project's tests, run on a rebased branch in the sandbox.

The command is the one the caller gives, else the project's ``test_command``, else one detected
from the files in the worktree (pytest, ``npm test``, ``go test``, ``cargo test``). It runs as
``/bin/sh -c COMMAND`` in the worktree, inside the same bubblewrap sandbox agents get (the code
under test is an agent's), with a small clean environment: none of the daemon's keys or tokens.
It runs in its own process group, and the whole group is killed when it outlasts
``merge.test_timeout_minutes`` or the caller is cancelled.

As root, the sandbox runs the command as an unprivileged uid (:func:`sandbox_ids`) whose user
namespace maps it onto the daemon's own uid, so the worktree and git dir Gluon created read as
that uid's own files and are writable inside with no change of owner on the host.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import json
import os
import re
import signal
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.agent import sandbox
from core.agent.launcher import check_names
from core.agent.setup import die_with_parent
from core.config import Config
from core.git import ops as gitops

OUTPUT_TAIL = 4000  # characters of output kept: the end, where test runners say what failed
_READ_AFTER_EXIT = 5.0  # seconds to drain the pipe once the command has ended or been killed

PYTEST = "python -m pytest -q"
NPM_TEST = "npm test"
GO_TEST = "go test ./..."
CARGO_TEST = "cargo test"

_BASE_VARS = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ")


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class, despite its name

    passed: bool
    command: str | None  # None: the project has no test command (configured or detected)
    output: str  # the last ~4,000 characters of what it printed (stdout+stderr)
    seconds: float
    timed_out: bool = False


def detect_test_command(worktree: Path) -> str | None:
    """The test command a project's files imply, or None; first match wins: pytest config (or a
    ``tests/`` folder of ``test_*.py``), a ``package.json`` test script, ``go.mod``,
    ``Cargo.toml``. Only files are read; no toolchain needs to be installed."""
    if _uses_pytest(worktree):
        return PYTEST
    if _has_npm_test(worktree / "package.json"):
        return NPM_TEST
    if (worktree / "go.mod").is_file():
        return GO_TEST
    if (worktree / "Cargo.toml").is_file():
        return CARGO_TEST
    return None


async def run_tests(config: Config, project: str, worktree: Path, *, agent_home: Path,
                    command: str | None = None) -> TestOutcome:
    """Run the project's tests in ``worktree`` in the sandbox and say whether they passed.

    ``command`` overrides the configured and the detected one. Without any, the outcome is a
    pass with ``command`` None: there is nothing to hold a merge back. ``agent_home`` is the
    command's HOME (created when missing); caches the tests write there stay out of the branch.
    Raises :class:`~core.agent.sandbox.SandboxUnavailable` when ``agents.sandbox`` is
    "required" and the sandbox cannot run.
    """
    command = _chosen(command) or _chosen(config.project(project).test_command) \
        or detect_test_command(worktree)
    if command is None:
        return TestOutcome(passed=True, command=None, seconds=0.0, output=(
            f"no test command: project {project!r} sets no test_command and none was detected "
            "(pytest, npm test, go test, cargo test), so no tests ran"))
    agent_home.mkdir(parents=True, exist_ok=True)
    argv = [*await _wrapper(config, project, worktree, agent_home), "/bin/sh", "-c", command]
    env = command_environment(config, project, agent_home, os.environ)
    started = time.monotonic()
    # Output goes to a pipe of our own, not asyncio's: asyncio's wait() also waits for its pipes
    # to close, which a process that escaped the group could put off for ever.
    read_end, write_end = os.pipe()
    tail = _Tail()
    try:
        transport, reader = await _read_pipe(read_end, tail)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=worktree, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end, stderr=write_end,
                start_new_session=True)  # its own process group, killed as a whole
        except BaseException:
            reader.cancel()
            transport.close()
            raise
    finally:
        os.close(write_end)  # the command holds it now; EOF comes when it is done with it
    timed_out = False
    try:
        try:
            async with asyncio.timeout(config.merge.test_timeout_minutes * 60):
                await proc.wait()
        except TimeoutError:
            timed_out = True
    finally:
        # Also after a normal exit: nothing the tests started outlives them.
        _kill_group(proc.pid)
        await proc.wait()
        try:
            # The end of the output comes once every process holding the pipe has gone: in
            # the sandbox, that is all of them a moment after the kill.
            async with asyncio.timeout(_READ_AFTER_EXIT):
                await reader
        except TimeoutError:
            pass  # a process that left the group still holds it
        finally:
            reader.cancel()
            transport.close()
    seconds = time.monotonic() - started
    return TestOutcome(passed=proc.returncode == 0 and not timed_out, command=command,
                       output=tail.text(), seconds=seconds, timed_out=timed_out)


def command_environment(config: Config, project: str, agent_home: Path,
                        source: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a test command: HOME, PATH, locale and the names the config
    lets agents have (``env_allow``); never a model key, bot token or other daemon secret."""
    env = {"HOME": str(agent_home), "USER": "agent", "SHELL": "/bin/sh",
           # Test runners that would otherwise watch files or prompt run once and exit.
           "CI": "true"}
    for name in _BASE_VARS:
        if name in source:
            env[name] = source[name]
    env.update({k: v for k, v in source.items() if k.startswith("LC_")})
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    allowed = [*config.agents.env_allow, *config.project(project).env_allow]
    check_names(allowed)
    env.update({name: source[name] for name in allowed if name in source})
    return env


async def _wrapper(config: Config, project: str, worktree: Path,
                   agent_home: Path) -> list[str]:
    """What the command line starts with: a death signal tied to Gluon and, where the sandbox
    runs, bubblewrap confined to the worktree, its git dir and ``agent_home``."""
    box = sandbox.plan(config.agents.sandbox)  # refuses when required but unavailable
    wrapper = die_with_parent()
    if box.outer:
        read_only = [Path(p) for p in (*config.agents.sandbox_read_only,
                                       *config.project(project).sandbox_read_only)]
        wrapper += sandbox.bwrap_command(
            bwrap=sandbox.probe().bwrap or "bwrap", worktree=worktree,
            git_dir=await gitops.git_common_dir(worktree), agent_home=agent_home,
            cli=Path("/bin/sh").resolve(), read_only=read_only)
    return wrapper


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _chosen(command: str | None) -> str | None:
    return command.strip() or None if command is not None else None


async def _read_pipe(fd: int, tail: _Tail) -> tuple[asyncio.ReadTransport, asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader()
    pipe = os.fdopen(fd, "rb", buffering=0)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), pipe)
    except BaseException:
        pipe.close()
        raise
    return transport, asyncio.create_task(tail.read(stream))


class _Tail:
    """The end of a stream, kept in bounded memory however much a test suite prints."""

    _KEEP = 4 * OUTPUT_TAIL  # bytes: enough for OUTPUT_TAIL characters of UTF-8

    def __init__(self) -> None:
        self._data = bytearray()

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._data += chunk
            if len(self._data) > 2 * self._KEEP:
                del self._data[:-self._KEEP]

    def text(self) -> str:
        return bytes(self._data[-self._KEEP:]).decode(errors="replace")[-OUTPUT_TAIL:]


# Detection.

_PLACEHOLDER = "no test specified"  # npm init's: echo "Error: no test specified" && exit 1


def _uses_pytest(worktree: Path) -> bool:
    if (worktree / "pytest.ini").is_file():
        return True
    if _pyproject_has_pytest(worktree / "pyproject.toml"):
        return True
    if _ini_has_section(worktree / "setup.cfg", "tool:pytest"):
        return True
    if _ini_has_section(worktree / "tox.ini", "pytest"):
        return True
    tests = worktree / "tests"
    return tests.is_dir() and next(tests.rglob("test_*.py"), None) is not None


def _pyproject_has_pytest(path: Path) -> bool:
    text = _read(path)
    if text is None:
        return False
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return re.search(r"^\s*\[tool\.pytest[\].]", text, re.MULTILINE) is not None
    return isinstance(tool, dict) and "pytest" in tool


def _ini_has_section(path: Path, section: str) -> bool:
    text = _read(path)
    if text is None:
        return False
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return re.search(rf"^\s*\[{re.escape(section)}\]", text, re.MULTILINE) is not None
    return parser.has_section(section)


def _has_npm_test(path: Path) -> bool:
    text = _read(path)
    if text is None:
        return False
    try:
        scripts = json.loads(text).get("scripts")
    except (ValueError, AttributeError):
        return False
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and _PLACEHOLDER not in test


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace") if path.is_file() else None
    except OSError:
        return None
