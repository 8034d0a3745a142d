"""Warm agents: Claude Code already started for a project's next run.

Starting the Claude Code CLI is most of a run's start (about 0.9 s of the 1.2 s to its first
model request). Gluon keeps ``agents.warm`` agents per project started ahead, so that a new run
only hands its prompt to one. Claude Code reads its working directory, the git status and
CLAUDE.md when it starts, so a warm agent is made for one future run: Gluon reserves that run's
id, and the agent starts exactly as the run's own would, in ``worktrees/<project>/<id>`` on
branch ``gluon/<id>`` at the commit the project's last run started from (a spare worktree
taken over), with the home ``agent-homes/<id>``, the project's settings, permission rules and
sandbox, and a session id of its own.

* :meth:`WarmAgents.claim`: a new run that starts from that commit (with no attachments) takes
  the reserved id, so its row, branch and worktree are the agent's.
* :meth:`WarmAgents.open` (the run manager's agent runner): the claimed agent is handed over when
  everything fixed at its start matches what the run needs (:meth:`AgentSpec.fixed_at_start`);
  its model is switched when the run asked for another, and the run records its session id.
  Otherwise (settings, permission rules, trust or budget changed since) the agent is stopped
  and the run starts cold, in the same worktree.
* Agents are made once a run's agent of the project has started (:meth:`refill_later`, after a
  short delay, so that start is not slowed down), and replaced when one dies (up to a few times
  in a row). One unused for ``agents.warm_idle_minutes`` is stopped and not replaced, so only
  projects with recent runs keep one (about 200 MB each). ``close()`` stops them all.
* An agent no run took leaves nothing: its worktree, branch and home are removed. A marker in
  ``<home>/warm/`` per agent lets the next Gluon clean up after a crash (:meth:`start`).

The default is one per project that had a run in the last 30 minutes: about 200 MB per active
project buys about a second off every run's start; ``agents.warm = 0`` where memory is tight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.agent.session import AgentEvent, AgentRunner, AgentSession, AgentSpec, Decision, ToolGate
from core.agent.setup import AgentSetup
from core.config import AgentsConfig, Config, resolve_model
from core.errors import NotFound
from core.git import ops as gitops
from core.git import worktrees as git_worktrees
from core.git.worktree_pool import WorktreePool
from core.runs.store import RunStore

log = logging.getLogger(__name__)

# Deaths in a row after which a project's warm agents are not replaced until its next run.
MAX_FAILURES = 3
_STDERR_LINES = 200  # kept from a warm agent's start for the run that takes it


@dataclass
class _Ended:
    error: BaseException | None


class WarmSession:
    """A warm agent's session: read from the moment it starts (so a death is noticed), its
    messages kept for the run that takes it over."""

    def __init__(self, inner: AgentSession, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end: Callable[[], None] | None = on_end
        self._items: asyncio.Queue[tuple[AgentEvent | None, dict[str, Any]] | _Ended] = (
            asyncio.Queue())
        self._reader = asyncio.create_task(self._read(), name="warm-agent-reader")
        self.ended = False

    async def _read(self) -> None:
        try:
            async for item in self._inner.events():
                self._items.put_nowait(item)
        except Exception as exc:
            self._items.put_nowait(_Ended(exc))
        else:
            self._items.put_nowait(_Ended(None))
        self.ended = True
        if self._on_end is not None:
            self._on_end()

    def hand_over(self) -> None:
        """From now on the run owns it: its end is the run's business."""
        self._on_end = None

    async def send(self, text: str) -> str:
        return await self._inner.send(text)

    async def interrupt(self) -> None:
        await self._inner.interrupt()

    async def set_model(self, model: str) -> None:
        await self._inner.set_model(model)

    async def events(self) -> AsyncIterator[tuple[AgentEvent | None, dict[str, Any]]]:
        while True:
            item = await self._items.get()
            if isinstance(item, _Ended):
                self._items.put_nowait(item)  # every later reader sees the end too
                if item.error is not None:
                    raise item.error
                return
            yield item

    async def close(self) -> None:
        self._on_end = None
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        if not self.ended:  # a reader of events() ends now, as with a session of its own
            self.ended = True
            self._items.put_nowait(_Ended(None))
        await self._inner.close()


class _Relay:
    """A warm agent's permission requests and stderr lines go to the run that takes it; the
    lines written before that are kept for it."""

    def __init__(self) -> None:
        self._gate: ToolGate | None = None
        self._stderr: Callable[[str], None] | None = None
        self._lines: list[str] = []

    async def gate(self, tool: str, tool_input: dict[str, Any],
                   tool_use_id: str | None) -> Decision:
        if self._gate is None:  # cannot happen: an agent acts only on a run's prompt
            return Decision(allow=False, message="This agent has no task yet.")
        return await self._gate(tool, tool_input, tool_use_id)

    def stderr(self, line: str) -> None:
        if self._stderr is not None:
            self._stderr(line)
        elif len(self._lines) < _STDERR_LINES:
            self._lines.append(line)

    def attach(self, gate: ToolGate, stderr: Callable[[str], None] | None) -> None:
        self._gate = gate
        self._stderr = stderr
        if stderr is not None:
            for line in self._lines:
                stderr(line)
        self._lines.clear()


@dataclass(eq=False)
class _Warm:
    project: str
    repo: Path
    base_sha: str
    run_id: str
    cwd: Path
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    relay: _Relay = field(default_factory=_Relay)
    spec: AgentSpec | None = None
    session: WarmSession | None = None
    starting: asyncio.Task[None] | None = None
    expiry: asyncio.TimerHandle | None = None
    claimed: bool = False

    @property
    def branch(self) -> str:
        return f"gluon/{self.run_id}"

    @property
    def alive(self) -> bool:
        return self.session is not None and not self.session.ended


class WarmAgents:
    """The warm agents of every project; also the run manager's :class:`AgentRunner`, which
    hands a claimed warm agent to its run and starts every other agent cold."""

    def __init__(self, config: Config, setup: AgentSetup, worktrees: WorktreePool,
                 runner: AgentRunner, store: RunStore,
                 settings: Callable[[], Awaitable[AgentsConfig]], *,
                 refill_delay: float) -> None:
        self.config = config
        self.size = config.agents.warm
        self.idle_seconds = config.agents.warm_idle_minutes * 60
        self.refill_delay = refill_delay
        self.setup = setup
        self.worktrees = worktrees
        self.runner = runner
        self.store = store
        self.settings = settings  # the agents settings as changed at runtime
        self.markers = config.home / "warm"
        self.handed_over = 0  # runs that got a warm agent
        self._ready: dict[str, list[_Warm]] = {}  # project -> unclaimed agents with a worktree
        self._claimed: dict[Path, _Warm] = {}  # run worktree -> agent waiting for its run
        self._failures: dict[str, int] = {}
        self._refills: set[asyncio.Task[None]] = set()  # cancelled at close
        self._cleanups: set[asyncio.Task[None]] = set()  # finished at close
        self._locks: dict[str, asyncio.Lock] = {}
        self._changed = asyncio.Event()  # set (and replaced) whenever an agent comes or goes
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Clear what a previous Gluon left of starting agents: launcher scripts, and warm
        agents' worktrees, branches and homes that no run took."""
        launchers = self.config.home / "launchers"
        for script in launchers.glob("*.sh") if launchers.is_dir() else []:
            script.unlink(missing_ok=True)
        for marker in sorted(self.markers.glob("*.json")) if self.markers.is_dir() else []:
            try:
                data = json.loads(marker.read_text())
                warm = _Warm(project=str(data["project"]), repo=Path(data["repo"]),
                             base_sha=str(data["base_sha"]), run_id=marker.stem,
                             cwd=Path(data["cwd"]))
                if not await self._run_exists(warm.run_id):
                    await self._remove_files(warm)
                marker.unlink(missing_ok=True)
            except Exception as exc:
                log.warning("could not clean up warm agent %s: %s", marker.stem, exc)

    async def close(self) -> None:
        """Stop every warm agent; remove the worktrees no run took."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._refills):
            task.cancel()
        await asyncio.gather(*self._refills, *self._cleanups, return_exceptions=True)
        for warm in [w for agents in self._ready.values() for w in agents]:
            await self._discard(warm)
        self._ready.clear()
        for warm in list(self._claimed.values()):
            await self._release(warm)
        self._claimed.clear()
        await asyncio.gather(*self._cleanups, return_exceptions=True)

    async def drop(self, project: str) -> None:
        """Stop the warm agents of a project being removed."""
        async with self._lock(project):
            for warm in self._ready.pop(project, []):
                await self._discard(warm)

    async def settle(self) -> None:
        """Wait until the warm agents being made are up (and stopped ones removed)."""
        while self._refills or self._cleanups:
            await asyncio.gather(*self._refills, *self._cleanups, return_exceptions=True)

    def ready(self, project: str) -> list[str]:
        """The run ids reserved by the project's warm agents that are up."""
        return [w.run_id for w in self._ready.get(project, []) if w.alive]

    async def wait(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checking it whenever an agent comes or goes."""
        while True:
            changed = self._changed
            if condition():
                return
            await changed.wait()

    def _change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- making them ------------------------------------------------------------------------

    def refill_later(self, project: str, repo: Path, commit: str) -> None:
        """Make the project's warm agents, at ``commit``, ``refill_delay`` seconds from now
        (call it once a run's agent has started, so the two starts do not compete)."""
        self._failures[project] = 0  # a run started: worth trying again
        self._replace(project, repo, commit)

    def _replace(self, project: str, repo: Path, commit: str) -> None:
        if self.size <= 0 or self._closed:
            return
        self._spawn(self._refills, self._refill(project, repo, commit),
                    f"warm-agents-{project}")

    async def _refill(self, project: str, repo: Path, commit: str) -> None:
        await asyncio.sleep(self.refill_delay)
        async with self._lock(project):
            agents = self._ready.setdefault(project, [])
            for stale in [w for w in agents if w.base_sha != commit or w.repo != repo]:
                agents.remove(stale)
                await self._discard(stale)
            while len(agents) < self.size and not self._closed:
                if self._failures.get(project, 0) >= MAX_FAILURES:
                    log.warning("warm agents of %s keep failing; none until its next run",
                                project)
                    return
                warm = await self._new(project, repo, commit)
                if warm is None:
                    return
                agents.append(warm)
                warm.starting = asyncio.create_task(self._start(warm),
                                                    name=f"warm-agent-{warm.run_id}")
                await asyncio.wait([warm.starting])  # one CLI start at a time

    async def _new(self, project: str, repo: Path, commit: str) -> _Warm | None:
        """Reserve a run id and check out its worktree, ready for the agent to start in."""
        run_id = await self.store.new_id()
        warm = _Warm(project=project, repo=repo, base_sha=commit, run_id=run_id,
                     cwd=self.config.worktrees_dir / project / run_id)
        self.markers.mkdir(parents=True, exist_ok=True)
        (self.markers / f"{run_id}.json").write_text(json.dumps({
            "project": project, "repo": str(repo), "base_sha": commit, "cwd": str(warm.cwd)}))
        try:
            await self.worktrees.checkout(project, repo, warm.cwd, warm.branch, commit)
        except asyncio.CancelledError:
            await asyncio.shield(self._remove(warm))
            raise
        except Exception as exc:
            log.warning("could not make a worktree for a warm agent of %s: %s", project, exc)
            await self._remove(warm)
            return None
        self.worktrees.refill_later(project, repo, commit)  # in case it took the spare
        return warm

    async def _start(self, warm: _Warm) -> None:
        """Start the CLI of a warm agent (never raises: a failure leaves it without a
        session, for its run to start cold, or to be removed)."""
        try:
            warm.spec = await self.setup.warm_spec(
                warm.project, warm.run_id, warm.cwd, warm.branch,
                model=resolve_model(None, (await self.settings()).default_model),
                session_id=warm.session_id,
                stderr=warm.relay.stderr)
            session = await self.runner.open(warm.spec, warm.relay.gate)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("a warm agent of %s did not start: %s", warm.project, exc)
            self._failures[warm.project] = self._failures.get(warm.project, 0) + 1
            self._forget(warm)
            return
        warm.session = WarmSession(session, lambda: self._died(warm))
        warm.expiry = asyncio.get_running_loop().call_later(self.idle_seconds, self._expire,
                                                            warm)
        self._change()

    def _died(self, warm: _Warm) -> None:
        """Its process ended before a run took it: replace it (unless they keep dying)."""
        if self._closed or warm.claimed:
            return  # a claimed one's run starts cold in its worktree
        log.warning("a warm agent of %s died; replacing it", warm.project)
        self._failures[warm.project] = self._failures.get(warm.project, 0) + 1
        if self._forget(warm):
            self._replace(warm.project, warm.repo, warm.base_sha)

    def _expire(self, warm: _Warm) -> None:
        """Unused for ``warm_idle_minutes``: stop it and make no other."""
        if self._claimed.get(warm.cwd) is warm:  # its run is still queued
            del self._claimed[warm.cwd]
            self._spawn(self._cleanups, self._release(warm), f"warm-release-{warm.run_id}")
        else:
            self._forget(warm)

    def _forget(self, warm: _Warm) -> bool:
        """Take an unclaimed agent out of the pool and remove it; False if it was not in."""
        agents = self._ready.get(warm.project, [])
        if self._closed or warm not in agents:
            return False
        agents.remove(warm)
        self._spawn(self._cleanups, self._discard(warm), f"warm-discard-{warm.run_id}")
        self._change()
        return True

    # -- handing them over ------------------------------------------------------------------

    def claim(self, project: str, repo: Path, base_sha: str) -> str | None:
        """The run id of a warm agent of ``project`` whose worktree is at ``base_sha``, for a
        new run to take (its row, branch and worktree become the agent's); None if there is
        none. An agent made at another commit is stopped."""
        agents = self._ready.get(project, [])
        for warm in list(agents):
            if warm.starting is not None and warm.starting.done() and not warm.alive:
                continue  # dead, being replaced
            if warm.repo != repo or warm.base_sha != base_sha:
                self._forget(warm)
                continue
            agents.remove(warm)
            warm.claimed = True
            self._claimed[warm.cwd] = warm
            return warm.run_id
        return None

    async def open(self, spec: AgentSpec, gate: ToolGate) -> AgentSession:
        """A run's agent: the warm agent its run claimed, if it fits; else a cold start."""
        warm = self._claimed.pop(spec.cwd, None)
        if warm is not None:
            try:
                session = await self._take(warm, spec, gate)
            except BaseException:
                await asyncio.shield(self._release(warm))
                raise
            if session is not None:
                return session
        return await self.runner.open(spec, gate)

    async def _take(self, warm: _Warm, spec: AgentSpec, gate: ToolGate) -> AgentSession | None:
        if warm.starting is not None:
            await asyncio.wait([warm.starting])  # never cancel it from here
        if warm.session is None or warm.spec is None or not warm.alive:
            reason = "it did not start or died"
        elif warm.spec.fixed_at_start() != spec.fixed_at_start():
            reason = "settings changed since it started"
        else:
            if warm.expiry is not None:
                warm.expiry.cancel()
            session = warm.session
            warm.relay.attach(gate, spec.stderr)
            session.hand_over()
            if spec.model != warm.spec.model:
                await session.set_model(spec.model)
            await self.store.update(warm.run_id, session_id=warm.session_id)
            (self.markers / f"{warm.run_id}.json").unlink(missing_ok=True)
            self._failures[warm.project] = 0
            self.handed_over += 1
            log.info("run %s: handed a warm agent", warm.run_id)
            return session
        log.info("run %s starts cold: its warm agent did not fit (%s)", warm.run_id, reason)
        await self._release(warm)
        return None

    # -- stopping them ----------------------------------------------------------------------

    async def _stop(self, warm: _Warm) -> None:
        if warm.expiry is not None:
            warm.expiry.cancel()
        if warm.starting is not None and not warm.starting.done():
            warm.starting.cancel()
            with contextlib.suppress(BaseException):
                await warm.starting
        if warm.session is not None:
            try:
                await warm.session.close()
            except Exception as exc:
                log.warning("stopping warm agent %s: %s", warm.run_id, exc)

    async def _release(self, warm: _Warm) -> None:
        """Stop a claimed agent; its worktree stays, for its run."""
        await self._stop(warm)
        if await self._run_exists(warm.run_id):
            (self.markers / f"{warm.run_id}.json").unlink(missing_ok=True)

    async def _discard(self, warm: _Warm) -> None:
        """Stop an agent no run took, and remove its worktree, branch and home."""
        await self._stop(warm)
        await self._remove(warm)

    async def _remove(self, warm: _Warm) -> None:
        try:
            await self._remove_files(warm)
            (self.markers / f"{warm.run_id}.json").unlink(missing_ok=True)
        except Exception as exc:  # the marker stays: the next start tries again
            log.warning("could not remove warm agent %s: %s", warm.run_id, exc)

    async def _remove_files(self, warm: _Warm) -> None:
        await git_worktrees.remove_worktree(warm.repo, warm.cwd)
        await asyncio.to_thread(shutil.rmtree, warm.cwd, True)
        if (await gitops.branch_exists(warm.repo, warm.branch)
                and await gitops.head_sha(warm.repo, warm.branch) == warm.base_sha):
            await gitops.delete_branch(warm.repo, warm.branch, force=True)
        await asyncio.to_thread(shutil.rmtree, self.config.agent_homes_dir / warm.run_id,
                                True)

    async def _run_exists(self, run_id: str) -> bool:
        try:
            await self.store.get(run_id)
        except NotFound:
            return False
        return True

    # -- tasks ------------------------------------------------------------------------------

    def _spawn(self, tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None],
               name: str) -> None:
        task = asyncio.create_task(self._guarded(coro), name=name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("warm agents")

    def _lock(self, project: str) -> asyncio.Lock:
        return self._locks.setdefault(project, asyncio.Lock())
