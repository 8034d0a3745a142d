"""How fast a run starts, and what the daemon costs while runs execute.

    uv run python bench/run_start.py [--files 20000] [--repeat 5] [--runs 10]

On a generated repository (``bench/gen_repo.py``, made once per invocation in a temp dir) with
the scripted model server (``tests/fakes``) and the real Claude Code CLI bundled with
claude-agent-sdk, it prints:

1. ``start_to_first_request``: the time from ``runtime.runs.start_run(project, prompt)`` to the
   model server receiving that run's first model request, for two runtimes over the same
   repository: ``agents.warm = 0`` (the CLI starts for the run; the target is <= 1.25 of bare)
   and ``agents.warm = 1`` (the run takes the warm agent started after the previous run; the
   target is <= 0.35 of bare), against the time from spawning a bare ``claude -p PROMPT`` in
   the same repository to its first request (p50, p90, ratios of p50s), where Gluon's time goes
   on each start path, and the RSS and PSS of one idle warm agent (the CLI and the sandbox
   processes between Gluon and it).
2. ``load``: while ``--runs`` runs execute at once (each two Bash calls, then ~3 s of streamed
   text; Bash is pre-approved so nothing waits for a person; the server holds every run's
   first request until all have started, so they really run at once): wall time, the daemon's
   CPU time and peak RSS, and the agents' summed RSS and PSS. The daemon is a fresh
   child process hosting only the runtime and the model server is another process
   (``bench/model_server_proc.py``), so the daemon's figures hold nothing else.

This is not a test: it asserts nothing beyond the runs working, it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gen_repo import generate_repo  # noqa: E402
from core.agent import sandbox  # noqa: E402
from core.git import ops as gitops  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.types import LIVE_STATES, RunState  # noqa: E402
from tests.conftest import daemon_environ, make_config  # noqa: E402
from tests.fakes.fixtures import bundled_cli_path  # noqa: E402
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer, text  # noqa: E402

PROJECT = "bench"
TARGET_RATIO = 1.25
WARM_TARGET_RATIO = 0.35
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# -- small helpers ---------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1), interpolated between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def arrival_probe(key: str, arrived: list[float]) -> Callable[[RecordedRequest], bool]:
    """A predicate for ``await_request`` that matches the first request of script ``key`` and
    notes when it arrived.

    ``RecordedRequest`` has no timestamp. ``ScriptedModelServer._record`` calls the predicates
    of waiting ``await_request`` callers on the server's own thread, right after parsing the
    request body and before answering, so ``time.perf_counter()`` taken inside the predicate is
    the arrival time to within the body parse (well under a millisecond for these requests).
    That is better than taking the time when ``await_request`` returns, which adds a thread hop
    and whatever the benchmark's event loop (which also hosts Gluon) is busy with. The waiter
    is registered before the agent is started, so the predicate never first sees the request
    late from the list of past requests.
    """
    def probe(request: RecordedRequest) -> bool:
        if request.script_key != key:
            return False
        if not arrived:
            arrived.append(time.perf_counter())
        return True
    return probe


async def wait_ended(rt: Runtime, run_id: str, limit: float = 120.0) -> RunState:
    """Poll until the run has left the live states and its supervisor task is gone."""
    deadline = time.monotonic() + limit
    while True:
        run = await rt.runs.get(run_id)
        if run.state not in LIVE_STATES and not rt.runs.is_live(run_id):
            if run.state is not RunState.REVIEW:
                raise RuntimeError(f"run {run_id} ended {run.state}: {run.state_reason}")
            return run.state
        if run.state is RunState.WAITING:
            raise RuntimeError(f"run {run_id} is waiting for a person: {run.state_reason}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.state} after {limit}s")
        await asyncio.sleep(0.05)


# -- 1. start to first request ---------------------------------------------------------------

class StartPath:
    """Marks on Gluon's start path, by wrapping the run manager's steps on this instance (and
    ``gitops._git`` for the module): nothing in ``core/`` changes."""

    def __init__(self, rt: Runtime) -> None:
        self.marks: dict[str, float] = {}
        self.git_s = 0.0
        self.git_calls = 0
        self.db_s = 0.0
        self.db_calls = 0
        self.active = False
        self.commands: list[list[str]] = []  # how each agent was started (sandbox, CLI)
        m = rt.runs
        self._wrap_span(m, "prepare_worktree", "worktree")
        self._wrap_span(m, "agent_spec", "spec")
        runner = m.runner
        outer = self

        class TimedRunner:
            async def open(self, spec: Any, gate: Any) -> Any:
                outer.commands.append(list(spec.command))
                outer.mark("open.start")
                session = await runner.open(spec, gate)
                outer.mark("open.end")
                return session
        m.runner = TimedRunner()
        for name in ("execute", "executemany", "fetchone", "fetchall"):
            if hasattr(rt.db, name):  # core/ changes under us; wrap what is there
                self._wrap_counter(rt.db, name, "db")
        original_git = gitops._git

        async def timed_git(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original_git(*args, **kwargs)
            finally:
                if self.active:
                    self.git_s += time.perf_counter() - started
                    self.git_calls += 1
        gitops._git = timed_git

    def reset(self) -> None:
        self.marks.clear()
        self.git_s = self.db_s = 0.0
        self.git_calls = self.db_calls = 0

    def mark(self, name: str) -> None:
        if self.active:
            self.marks.setdefault(name, time.perf_counter())

    def _wrap_span(self, obj: Any, attr: str, label: str) -> None:
        original = getattr(obj, attr)

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.mark(f"{label}.start")
            try:
                return await original(*args, **kwargs)
            finally:
                self.mark(f"{label}.end")
        setattr(obj, attr, wrapped)

    def _wrap_counter(self, obj: Any, attr: str, label: str) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(obj, attr)

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                if self.active:
                    self.db_s += time.perf_counter() - started
                    self.db_calls += 1
        setattr(obj, attr, wrapped)


async def gluon_attempt(rt: Runtime, server: ScriptedModelServer, path: StartPath,
                        n: int, tag: str = "bench") -> dict[str, float]:
    """One run from ``start_run`` to its end; the figures are up to its first model request.
    ``tag`` keeps script keys apart when several runtimes share one model server."""
    key = f"SCRIPT:{tag}-{n}"
    server.script(key, [text("Done.")])
    arrived: list[float] = []
    waiter = asyncio.create_task(server.await_request(arrival_probe(key, arrived), timeout=120))
    await asyncio.sleep(0)  # the waiter registers before the run exists
    path.reset()
    path.active = True
    t0 = time.perf_counter()
    run = await rt.runs.start_run(PROJECT, key)
    returned = time.perf_counter()
    await waiter
    path.active = False
    first = arrived[0]
    await wait_ended(rt, run.id)
    m = path.marks
    return {
        "total": first - t0,
        "start_run_call": returned - t0,
        "before_worktree": m["worktree.start"] - t0,
        "worktree": m["worktree.end"] - m["worktree.start"],
        "spec": m["spec.end"] - m["spec.start"],
        "handoff": m["spec.start"] - returned,  # supervisor task start, mkdirs, log files
        "spec_to_open": m["open.start"] - m["spec.end"],  # RUNNING transition
        "sdk_open": m["open.end"] - m["open.start"],  # spawn launcher+CLI, initialize
        "open_to_request": first - m["open.end"],  # send the prompt, CLI builds the request
        "cli_total": first - m["open.start"],
        "git_s": path.git_s, "git_calls": path.git_calls,
        "db_s": path.db_s, "db_calls": path.db_calls,
    }


async def bare_attempt(server: ScriptedModelServer, repo: Path, homes: Path, n: int,
                       settings: dict[str, object] | None = None) -> float:
    """A bare `claude -p`, optionally with the Claude Code settings Gluon gives its agents."""
    key = f"SCRIPT:bare-{n}{'-settings' if settings else ''}"
    server.script(key, [text("Done.")])
    home = homes / key.removeprefix("SCRIPT:")
    home.mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           **server.agent_env(str(home))}
    arrived: list[float] = []
    waiter = asyncio.create_task(server.await_request(arrival_probe(key, arrived), timeout=120))
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        bundled_cli_path(), "-p", key, *(["--settings", json.dumps(settings)] if settings else []),
        cwd=repo, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    await waiter
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bare claude exited {proc.returncode}: {err.decode()[-500:]}")
    return arrived[0] - t0


async def settle(rt: Runtime) -> None:
    """Wait until the spare worktree and the warm agents being made are ready."""
    await rt.runs.pool.settle()
    await rt.runs.warm.settle()


async def phase_start(repo: Path, tmp: Path, repeat: int) -> None:
    with ScriptedModelServer() as server:
        runtimes: dict[str, Runtime] = {}
        try:
            for kind, warm in (("cold", 0), ("warm", 1)):
                config = make_config(tmp / f"gluon-home-{kind}", server, max_concurrent=10,
                                     max_concurrent_per_project=10, warm=warm)
                runtimes[kind] = Runtime(config, environ=daemon_environ())
                await runtimes[kind].open()
                await runtimes[kind].projects.add(PROJECT, str(repo))
            paths = {kind: StartPath(rt) for kind, rt in runtimes.items()}
            gluon: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
            bare: list[float] = []
            same: list[float] = []
            # Claude Code's own Bash sandbox, which Gluon turns on, costs the CLI some start-up
            # time of its own: the second baseline is a bare `claude -p` with those settings,
            # so the ratio against it is Gluon's overhead alone.
            box = sandbox.plan(runtimes["cold"].config.agents.sandbox)
            settings = (sandbox.claude_sandbox_settings(outer=False, required=False)
                        if box.inner else None)
            # Attempt 0 of each warms the page cache (the CLI binary, the repository) and is
            # not counted; after it the kinds alternate, so drift hits all alike. Attempt 0 is
            # also each runtime's first run of the project: no spare worktree and no warm agent
            # yet. Every later attempt starts once the spare and the warm agent are ready, as
            # when runs are started minutes apart; the first-run figure is printed on its own.
            first = 0.0
            memory: dict[str, float] = {}
            for n in range(repeat + 1):
                cold = await gluon_attempt(runtimes["cold"], server, paths["cold"], n, "cold")
                await settle(runtimes["cold"])
                warm_rt = runtimes["warm"]
                used = warm_rt.runs.warm.handed_over
                if n and not warm_rt.runs.warm.ready(PROJECT):
                    raise RuntimeError("no warm agent was ready")
                if n == repeat:
                    memory = warm_agent_memory(warm_rt)
                hot = await gluon_attempt(warm_rt, server, paths["warm"], n, "warm")
                if n and warm_rt.runs.warm.handed_over != used + 1:
                    raise RuntimeError("the run did not get the warm agent")
                await settle(warm_rt)
                b = await bare_attempt(server, repo, tmp / "bare-homes", n)
                b2 = (await bare_attempt(server, repo, tmp / "bare-homes", n, settings)
                      if settings else b)
                if n:
                    gluon["cold"].append(cold)
                    gluon["warm"].append(hot)
                    bare.append(b)
                    same.append(b2)
                else:
                    first = cold["total"]
            check_launchers_ran_bwrap(paths, box.outer)
        finally:
            for rt in runtimes.values():
                await rt.close()
    b50, b90 = pct(bare, .5), pct(bare, .9)
    s50, s90 = pct(same, .5), pct(same, .9)
    print(f"start_to_first_request (p50, p90): bare `claude -p` {b50:.3f}s {b90:.3f}s | with "
          f"Gluon's Claude Code settings (its Bash sandbox {'on' if settings else 'unavailable'})"
          f" {s50:.3f}s {s90:.3f}s")
    totals = {kind: [g["total"] for g in rows] for kind, rows in gluon.items()}
    c50, w50 = pct(totals["cold"], .5), pct(totals["warm"], .5)
    for kind, target in (("cold", TARGET_RATIO), ("warm", WARM_TARGET_RATIO)):
        g50, g90 = pct(totals[kind], .5), pct(totals[kind], .9)
        what = ("agents.warm = 0: the CLI starts for the run" if kind == "cold"
                else "agents.warm = 1: the run takes a warm agent")
        print(f"  gluon {kind} ({what}): p50={g50:.3f}s p90={g90:.3f}s | ratio p50 to bare "
              f"{g50 / b50:.2f} (target <= {target}: "
              f"{'met' if g50 / b50 <= target else 'NOT met'}) | to bare with Gluon's settings "
              f"{g50 / s50:.2f}")
    print(f"  warm / cold p50: {w50 / c50:.2f}")
    print(f"  first run of a project (no spare worktree, no warm agent): gluon {first:.3f}s "
          f"(ratio {first / b50:.2f}; includes warming the page cache)")
    print("  attempts (s): cold " + " ".join(f"{t:.2f}" for t in totals["cold"])
          + " | warm " + " ".join(f"{t:.2f}" for t in totals["warm"])
          + " | bare " + " ".join(f"{t:.2f}" for t in bare))
    for kind, rows in gluon.items():
        med = {k: statistics.median(g[k] for g in rows) for k in rows[0]}
        opened = ("SDK connect (spawn + CLI boot + initialize)" if kind == "cold"
                  else "warm agent handed over (set model, session id)")
        print(f"  gluon {kind} start path, medians: before worktree (ids, git queries, DB) "
              f"{med['before_worktree']:.3f}s | worktree {med['worktree']:.3f}s | start_run "
              f"returns at {med['start_run_call']:.3f}s")
        print(f"    then task handoff {med['handoff']:.3f}s | agent_spec (env, sandbox, rules) "
              f"{med['spec']:.3f}s | RUNNING transition {med['spec_to_open']:.3f}s | {opened} "
              f"{med['sdk_open']:.3f}s | prompt to request {med['open_to_request']:.3f}s")
        print(f"    CLI part {med['cli_total']:.3f}s | git {med['git_calls']:.0f} calls "
              f"{med['git_s']:.3f}s | DB {med['db_calls']:.0f} statements {med['db_s']:.3f}s "
              "(overlapping the spans above)")
    mb = 1024.0
    print(f"warm agent memory (one idle agent, {memory['procs']:.0f} processes: launcher chain, "
          f"sandbox, CLI): RSS {memory['rss_kb'] / mb:.0f} MB (the CLI alone "
          f"{memory['cli_rss_kb'] / mb:.0f} MB), PSS {memory['pss_kb'] / mb:.0f} MB")


def warm_agent_memory(rt: Runtime) -> dict[str, float]:
    """RSS and PSS of a project's idle warm agent: the CLI, the processes between Gluon and it
    (sandbox), and any it started."""
    [run_id] = rt.runs.warm.ready(PROJECT)
    cwd = str(rt.config.worktrees_dir / PROJECT / run_id)
    [cli] = [pid for pid in _descendants(os.getpid(), exclude=-1)
             if _cwd(pid) == cwd and Path(_exe_name(pid)).name == "claude"]
    chain, pid = [cli], _ppid(cli)
    while pid not in (os.getpid(), 0, 1):
        chain.append(pid)
        pid = _ppid(pid)
    procs = chain + _descendants(cli, exclude=-1)
    return {"procs": len(procs), "cli_rss_kb": _statm_rss_kb(cli),
            "rss_kb": sum(_statm_rss_kb(p) for p in procs),
            "pss_kb": sum(_pss_kb(p) for p in procs)}


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _exe_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def check_launchers_ran_bwrap(paths: dict[str, StartPath], sandboxed: bool) -> None:
    """Every run's agent started as the sandbox plan says: else what was measured differs."""
    for kind, path in paths.items():
        wrapped = {any(Path(part).name == "bwrap" for part in c) for c in path.commands}
        if wrapped != {sandboxed}:
            raise RuntimeError(f"{kind} runs: bwrap expected {sandboxed}, seen {wrapped}")


# -- 2. ten runs at once ---------------------------------------------------------------------

class Sampler(threading.Thread):
    """Samples this process's VmRSS and its descendants' RSS every ``interval`` s, their PSS
    every fifth time."""

    def __init__(self, exclude: int, interval: float = 0.2) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.exclude = exclude  # the model server process: not an agent
        self.interval = interval
        self.stop = threading.Event()
        self.self_peak_kb = 0
        self.agents_rss_peak_kb = 0
        self.agents_pss_peak_kb = 0
        self.agents_peak = 0
        self.cpu_s = 0.0  # this thread's own CPU time, to take out of the daemon's

    def run(self) -> None:
        me = os.getpid()
        tick = 0
        while not self.stop.is_set():
            self.self_peak_kb = max(self.self_peak_kb, _vmrss_kb("self"))
            procs = _descendants(me, self.exclude)
            rss = sum(_statm_rss_kb(pid) for pid in procs)
            # PSS (shared pages split between processes) costs a page-table walk: every 1 s.
            pss = sum(_pss_kb(pid) for pid in procs) if tick % 5 == 0 else 0
            tick += 1
            self.agents_rss_peak_kb = max(self.agents_rss_peak_kb, rss)
            self.agents_pss_peak_kb = max(self.agents_pss_peak_kb, pss)
            self.agents_peak = max(self.agents_peak, len(procs))
            self.cpu_s = time.thread_time()
            self.stop.wait(self.interval)
        self.cpu_s = time.thread_time()


def _vmrss_kb(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _statm_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root: int, exclude: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [p for p in children.get(root, []) if p != exclude]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


async def phase_load(repo: Path, tmp: Path, runs: int, seconds: float) -> dict[str, Any]:
    """Runs in a fresh child process: this process is the daemon.

    Every run's first model request is held by the server until all ``runs`` have made one, so
    the ``exec`` window (release to the last run ended) has all agents working at once; the
    ``start`` window before it is the ``start_run`` calls and the agents starting up."""
    # Blocking pipes on purpose: read once at start, then through asyncio.to_thread.
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, str(ROOT / "bench" / "model_server_proc.py"), "--runs", str(runs),
         "--seconds", str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    stdout = server.stdout
    try:
        base_url = stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError(f"model server did not start: {base_url!r}")
        config = make_config(tmp / "gluon-home", SimpleNamespace(base_url=base_url),  # type: ignore[arg-type]
                             allowed_tools=["Bash"], max_concurrent=runs,
                             max_concurrent_per_project=runs, warm=0)
        rt = Runtime(config, environ=daemon_environ())
        await rt.open()
        try:
            await rt.projects.add(PROJECT, str(repo))
            idle_kb = _vmrss_kb("self")
            sampler = Sampler(exclude=server.pid)
            sampler.start()
            cpu0, wall0, kids0 = time.process_time(), time.perf_counter(), _children_cpu()
            ids = [(await rt.runs.start_run(PROJECT, f"SCRIPT:load-{i}")).id
                   for i in range(runs)]
            calls = time.perf_counter() - wall0
            held = await asyncio.wait_for(asyncio.to_thread(stdout.readline), 300)
            if held.strip() != "all-held":
                raise RuntimeError(f"model server said {held!r}")
            cpu1, wall1, kids1 = time.process_time(), time.perf_counter(), _children_cpu()
            sampler_at_release = sampler.cpu_s
            server.stdin.write("release\n")
            server.stdin.flush()
            await asyncio.gather(*(wait_ended(rt, i, limit=150) for i in ids))
            cpu2, wall2, kids2 = time.process_time(), time.perf_counter(), _children_cpu()
            sampler.stop.set()
            sampler.join()
            tool_calls = [(await rt.runs.get(i)).tool_calls for i in ids]
        finally:
            await rt.close()
    finally:
        server.stdin.close()
        tail = stdout.read().strip().splitlines()
        server.wait(timeout=30)
    # The sampler thread's CPU is part of process_time(); it is taken out (roughly split at
    # the release by its own thread_time()).
    return {
        "runs": runs, "start_run_calls_s": calls,
        "start_wall_s": wall1 - wall0, "exec_wall_s": wall2 - wall1,
        "start_cpu_s": cpu1 - cpu0 - sampler_at_release,
        "exec_cpu_s": cpu2 - cpu1 - (sampler.cpu_s - sampler_at_release),
        "sampler_cpu_s": sampler.cpu_s,
        "start_children_cpu_s": kids1 - kids0, "exec_children_cpu_s": kids2 - kids1,
        "daemon_idle_rss_kb": idle_kb, "daemon_peak_vmrss_kb": sampler.self_peak_kb,
        "daemon_ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "agents_rss_peak_kb": sampler.agents_rss_peak_kb,
        "agents_pss_peak_kb": sampler.agents_pss_peak_kb, "agent_procs_peak": sampler.agents_peak,
        "tool_calls": tool_calls, "server": json.loads(tail[-1]) if tail else {},
    }


def _children_cpu() -> float:
    """CPU of the daemon's children that have exited (git calls, agents that ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_load(r: dict[str, Any]) -> None:
    mb = 1024.0
    s = r["server"]
    n = r["runs"]
    print(f"load ({n} runs at once): wall {r['start_wall_s'] + r['exec_wall_s']:.1f}s = start "
          f"{r['start_wall_s']:.1f}s (the {n} start_run calls {r['start_run_calls_s']:.1f}s, "
          f"until all {n} agents had sent a request) + execution {r['exec_wall_s']:.1f}s "
          "(all released at once until the last run ended)")
    print(f"  daemon CPU: start {r['start_cpu_s']:.2f}s, execution {r['exec_cpu_s']:.2f}s "
          f"(RSS sampler thread {r['sampler_cpu_s']:.2f}s excluded) | exited children (git, "
          f"agents) start {r['start_children_cpu_s']:.1f}s, execution "
          f"{r['exec_children_cpu_s']:.1f}s | model server {s.get('cpu_s', float('nan')):.2f}s"
          " in its own process")
    print(f"  daemon RSS: idle {r['daemon_idle_rss_kb'] / mb:.0f} MB, peak (VmRSS every 0.2s) "
          f"{r['daemon_peak_vmrss_kb'] / mb:.0f} MB, ru_maxrss {r['daemon_ru_maxrss_kb'] / mb:.0f}"
          f" MB | agents at peak: {r['agent_procs_peak']} processes, RSS sum "
          f"{r['agents_rss_peak_kb'] / mb:.0f} MB, PSS sum {r['agents_pss_peak_kb'] / mb:.0f} MB")
    print(f"  tool calls per run {r['tool_calls']} | model requests {s.get('keyed_requests')} "
          f"scripted of {s.get('requests')}")


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=20000, help="files in the repository")
    parser.add_argument("--repeat", type=int, default=5, help="measured starts of each kind")
    parser.add_argument("--runs", type=int, default=10, help="runs at once in the load phase")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="seconds of streamed text per load run")
    parser.add_argument("--tmpdir", help="where to make the temp dir (default: $TMPDIR or /tmp)")
    parser.add_argument("--load-child", nargs=2, metavar=("REPO", "TMP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_child:
        repo, tmp = map(Path, args.load_child)
        print(json.dumps(asyncio.run(phase_load(repo, tmp, args.runs, args.seconds))))
        return
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="gluon-bench-", dir=args.tmpdir))
    os.environ["GLUON_HOME"] = str(tmp / "gluon-home")
    try:
        repo = tmp / "repo"
        t = time.perf_counter()
        generate_repo(repo, args.files)
        print(f"repository: {args.files} files, generated in {time.perf_counter() - t:.1f}s")
        asyncio.run(phase_start(repo, tmp, args.repeat))
        child = subprocess.run(
            [sys.executable, __file__, "--runs", str(args.runs), "--seconds",
             str(args.seconds), "--load-child", str(repo), str(tmp / "load")],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "GLUON_HOME": str(tmp / "load" / "gluon-home")})
        if child.returncode != 0:
            sys.exit(f"load phase failed:\n{child.stderr[-3000:]}")
        print_load(json.loads(child.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"benchmark took {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
