"""What the witness costs and how soon it sees a stalled or dead agent.

    uv run python bench/witness.py [--events 10000] [--interval 1] [--stalled-after 2]

- **CPU per 10,000 events**: the witness's own work (taking in each bus event and classifying
  the run; a change is recorded in ``gluon.db`` and said as a RunNote) over 20 live runs, a
  tool call each: ``steady`` (every call new, nothing written) and ``looping`` (each run turns
  looping and back every 16 calls). Prints CPU ms per 10,000 events and the changes written.
- **Detection delay**: real Claude Code CLIs against the scripted model server, their model
  stream held (the agent waits, idle). Stalled: from the agent's last output plus
  ``stalled_after_seconds`` to the recorded ``stalled`` change (the timer's ``--interval``
  bounds it). Zombie: the agent's process is killed; from the kill to the first of the
  witness's ``zombie`` change and the run's supervisor ending the run (which says which).

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.config import ProjectConfig, WitnessConfig  # noqa: E402
from core.events.bus import RunStateChanged, ToolCalled  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.types import RunState  # noqa: E402
from core.witness import Classification  # noqa: E402
from core.witness.watch import Watch  # noqa: E402
from tests.conftest import daemon_environ, make_config, make_repo  # noqa: E402
from tests.fakes import scripts as s  # noqa: E402
from tests.fakes.model_server import ScriptedModelServer  # noqa: E402


async def events_cost(rt: Runtime, repo: Path, n: int, prefix: str, loops: bool
                      ) -> dict[str, float]:
    """``loops``: with runs turning looping and back (a change written each time), else
    every call a new one (nothing written)."""
    ids = [f"{prefix}{i:04d}" for i in range(20)]
    for i, run_id in enumerate(ids):
        await rt.runs.store.insert(id=run_id, project="demo", prompt="bench", model="sonnet",
                                   use_worktree=0, cwd=str(repo), session_id=f"s{i}",
                                   state="running", started_at=time.time())
    w = rt.witness
    for run_id in ids:  # watched as if this Gluon executed them (no agent behind them)
        now = time.time()
        w.watches[run_id] = Watch(run_id, "demo", now, w.cfg.window, since=now, started_at=now)
    before = await changes(rt)
    start_cpu, start = time.process_time(), time.perf_counter()
    for i in range(n):
        run_id = ids[i % len(ids)]
        # Four calls of one command in a row, then twelve others: each run turns looping,
        # then healthy again, once every sixteen of its calls.
        repeat = loops and (i // len(ids)) % 16 < 4
        summary = "Run: npm test" if repeat else f"Read src/f{i}.py"
        event = ToolCalled(run_id=run_id, project="demo", tool="Bash", summary=summary)
        if w.observe(event):
            await w.check(run_id, sample=False)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start
    after = await changes(rt)
    return {f"{prefix}_cpu_ms_per_10k": round(cpu * 1000 * 10_000 / n, 1),
            f"{prefix}_wall_ms_per_10k": round(wall * 1000 * 10_000 / n, 1),
            f"{prefix}_changes_written": after - before}


async def changes(rt: Runtime) -> int:
    row = await rt.db.fetchone("SELECT COUNT(*) AS n FROM witness_changes")
    return int(row["n"]) if row is not None else 0


async def change_at(rt: Runtime, run_id: str, cls: Classification) -> float | None:
    row = await rt.db.fetchone(
        "SELECT MIN(at) AS at FROM witness_changes WHERE run_id = ? AND classification = ?",
        (run_id, str(cls)))
    return row["at"] if row is not None else None


async def detection(rt: Runtime, server: ScriptedModelServer, stalled_after: float
                    ) -> dict[str, object]:
    server.script("SCRIPT:bench-stall", [s.hold("bench-stall")])
    server.script("SCRIPT:bench-zombie", [s.hold("bench-zombie")])
    stall = await rt.runs.start_run("demo", "SCRIPT:bench-stall wait")
    zombie = await rt.runs.start_run("demo", "SCRIPT:bench-zombie wait")
    await server.await_request(lambda r: r.script_key == "SCRIPT:bench-stall", timeout=60)
    await server.await_request(lambda r: r.script_key == "SCRIPT:bench-zombie", timeout=60)

    pid = rt.runs.agent_pid(zombie.id)
    assert pid is not None
    with rt.bus.subscribe(lambda e: e.run_id == zombie.id and isinstance(e, RunStateChanged)
                          and not e.new.is_live) as sub:
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        ended = await sub.get(timeout=60)
    zombie_at = await change_at(rt, zombie.id, Classification.ZOMBIE)
    first = min(t for t in (zombie_at, ended.at) if t is not None)
    zombie_by = "witness" if zombie_at is not None and zombie_at <= ended.at else "supervisor"

    watch = rt.witness.watches[stall.id]
    deadline = time.monotonic() + stalled_after + 60
    while (at := await change_at(rt, stall.id, Classification.STALLED)) is None:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    server.release("bench-stall")
    server.release("bench-zombie")
    stalled_delay = None if at is None else round(at - watch.last_output_at - stalled_after, 3)
    # The silence counts from the run's start; the CLI's own start (busy) is in it.
    return {"stalled_delay_s": stalled_delay, "zombie_delay_s": round(first - killed, 3),
            "zombie_seen_by": zombie_by}


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as server:
        repo = make_repo(Path(tmp) / "demo")
        base = make_config(Path(tmp) / "home", server)
        config = base.model_copy(update={
            "witness": WitnessConfig(interval_seconds=args.interval,
                                     stalled_after_seconds=args.stalled_after,
                                     stalled_cpu_percent=5),
            "projects": {"demo": ProjectConfig(witness="notify")}})
        async with Runtime(config, environ=daemon_environ()) as rt:
            await rt.projects.add("demo", str(repo))
            figures: dict[str, object] = dict(await detection(rt, server, args.stalled_after))
            figures.update(await events_cost(rt, repo, args.events, "steady", loops=False))
            figures.update(await events_cost(rt, repo, args.events, "looping", loops=True))
            for run in await rt.runs.store.find(states=[RunState.RUNNING, RunState.WAITING]):
                if rt.runs.is_live(run.id):
                    await rt.runs.cancel(run.id, actor="bench")
        figures.update(events=args.events, interval_s=args.interval)
        print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--stalled-after", type=float, default=2.0)
    asyncio.run(main(parser.parse_args()))
