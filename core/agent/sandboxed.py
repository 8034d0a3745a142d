"""A shell command run in a run's worktree, inside the sandbox agents get: the merge queue's
tests and the quality gates' lint and test commands (the code they run is an agent's).

It runs as ``/bin/sh -c COMMAND`` in the worktree, inside bubblewrap where the sandbox runs,
with a small clean environment: none of the daemon's keys or tokens. It runs in its own process
group, and the whole group is killed when it outlasts its timeout or the caller is cancelled;
only the end of its output is kept.

As root, the sandbox runs the command as an unprivileged uid
(:func:`core.agent.sandbox.sandbox_ids`) whose user namespace maps it onto the daemon's own uid,
so the worktree and git dir Gluon created read as that uid's own files and are writable inside
with no change of owner on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.agent import sandbox
from core.agent.launcher import check_names
from core.agent.setup import die_with_parent
from core.config import Config
from core.git import ops as gitops

OUTPUT_TAIL = 4000  # characters of output kept: the end, where tools say what failed
_READ_AFTER_EXIT = 5.0  # seconds to drain the pipe once the command has ended or been killed
MISSING = 127  # the shell's exit code for a program it cannot find

_BASE_VARS = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ")


@dataclass(frozen=True)
class CommandOutcome:
    command: str
    exit_code: int | None  # None: killed at the timeout
    output: str  # the last ~4,000 characters of what it printed (stdout+stderr)
    seconds: float
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def missing(self) -> bool:
        """The shell could not find the program (exit 127, "not found"): the command was
        never really run."""
        if self.timed_out or self.exit_code != MISSING:
            return False
        last = self.output.strip().splitlines()[-1:] or [""]
        return "not found" in last[0] or not last[0]


async def run_command(config: Config, project: str, worktree: Path, agent_home: Path,
                      command: str, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
    """Run ``command`` in ``worktree`` in the sandbox, for at most ``timeout`` seconds.

    ``agent_home`` is the command's HOME (created when missing); caches the command writes
    there stay out of the branch. Raises :class:`~core.agent.sandbox.SandboxUnavailable` when
    ``agents.sandbox`` is "required" and the sandbox cannot run.
    """
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
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            timed_out = True
    finally:
        # Also after a normal exit: nothing the command started outlives it.
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
    return CommandOutcome(command=command, exit_code=None if timed_out else proc.returncode,
                          output=tail.text(), seconds=time.monotonic() - started,
                          timed_out=timed_out)


def command_environment(config: Config, project: str, agent_home: Path,
                        source: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a sandboxed command: HOME, PATH, locale and the names the
    config lets agents have (``env_allow``); never a model key, bot token or other secret."""
    env = {"HOME": str(agent_home), "USER": "agent", "SHELL": "/bin/sh",
           # Test runners and linters that would otherwise watch files or prompt run once.
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
    """The end of a stream, kept in bounded memory however much a command prints."""

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
