"""What a formula's step costs over a plain resume.

    uv run python bench/formula_steps.py [--steps 4] [--repeat 3]

With the scripted model server (``tests/fakes``) and the real Claude Code CLI, it runs a
formula of ``--steps`` steps (each one model reply) ``--repeat`` times, and as many plain
runs resumed ``--steps - 1`` times each. The per-step overhead is the time from the model
request that ends one step (its only request) to the first model request of the next step, as
the model server sees them: Gluon's follow-up (record the step, render the next prompt, end
the turn, queue the run as a new job) and a fresh agent session's start. The same measure after
a plain ``runs.resume`` (the run ends in review, then is resumed in its session) is the
baseline. It prints the p50 of each and the ratio.

This is not a test: it asserts nothing beyond the runs working, it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.events.bus import RunStateChanged  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.types import RunState  # noqa: E402
from tests.conftest import daemon_environ, git, make_config, make_repo  # noqa: E402
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer, text  # noqa: E402

ENDED = (RunState.REVIEW, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)


def probe(key: str, arrived: dict[str, float]) -> Callable[[RecordedRequest], bool]:
    """A predicate for ``await_request`` that notes when the first request of script ``key``
    arrived: the server calls it on its own thread as the request comes in (RecordedRequest
    has no timestamp), so it is the arrival time within the body's parse."""
    def check(request: RecordedRequest) -> bool:
        if request.script_key != key:
            return False
        arrived.setdefault(key, time.perf_counter())
        return True
    return check


def formula_text(steps: int) -> str:
    lines = ["description: one reply per step", "vars:", "  tag:", "    required: true",
             "steps:"]
    for i in range(steps):
        lines += [f"  - name: s{i}", f'    prompt: "SCRIPT:fs{i}x-{{{{ tag }}}} go on"']
    return "\n".join(lines) + "\n"


async def until_ended(rt: Runtime, run_id: str) -> None:
    """Until the run is in review and its supervisor has ended (so a resume queues it)."""
    with rt.bus.subscribe(lambda e: e.run_id == run_id and isinstance(e, RunStateChanged)) as s:
        async with asyncio.timeout(180):
            while (run := await rt.runs.get(run_id)).state not in ENDED or rt.runs.is_live(
                    run_id):
                with contextlib.suppress(TimeoutError):  # the supervisor may still be
                    await s.get(timeout=0.2)             # winding down: look again
    if run.state is not RunState.REVIEW:
        raise RuntimeError(f"run {run_id} ended {run.state}: {run.state_reason}")


async def formula_gaps(rt: Runtime, server: ScriptedModelServer, steps: int,
                       tag: str) -> list[float]:
    arrived: dict[str, float] = {}
    keys = [f"SCRIPT:fs{i}x-{tag}" for i in range(steps)]
    waits = []
    for i, key in enumerate(keys):
        server.script(key, [text(f"step {i} done")])
        waits.append(asyncio.ensure_future(server.await_request(probe(key, arrived), 180)))
    run = await rt.formulas.start("bench", "bench", {"tag": tag}, "bench")
    await asyncio.gather(*waits)
    await until_ended(rt, run.id)
    return [arrived[keys[i + 1]] - arrived[keys[i]] for i in range(steps - 1)]


async def resume_gaps(rt: Runtime, server: ScriptedModelServer, turns: int,
                      tag: str) -> list[float]:
    arrived: dict[str, float] = {}
    keys = [f"SCRIPT:rs{i}x-{tag}" for i in range(turns)]
    for i, key in enumerate(keys):
        server.script(key, [text(f"turn {i} done")])
    gaps = []
    run_id = ""
    for i, key in enumerate(keys):
        wait = asyncio.ensure_future(server.await_request(probe(key, arrived), 180))
        if i == 0:
            run_id = (await rt.runs.start_run("bench", f"{key} go on", actor="bench")).id
        else:
            await rt.runs.resume(run_id, f"{key} go on", "bench")
        await wait
        await until_ended(rt, run_id)
        if i:
            gaps.append(arrived[key] - arrived[keys[i - 1]])
    return gaps


async def main(steps: int, repeat: int) -> None:
    server = ScriptedModelServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="gluon-bench-") as tmp:
            repo = make_repo(Path(tmp) / "bench")
            (repo / ".gluon" / "formulas").mkdir(parents=True)
            (repo / ".gluon" / "formulas" / "bench.yml").write_text(formula_text(steps))
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "bench formula")
            rt = Runtime(make_config(Path(tmp) / "home", server), environ=daemon_environ())
            await rt.open()
            try:
                await rt.projects.add("bench", str(repo))
                formula: list[float] = []
                plain: list[float] = []
                for n in range(repeat):
                    formula += await formula_gaps(rt, server, steps, f"f{n}")
                    plain += await resume_gaps(rt, server, steps, f"r{n}")
            finally:
                await rt.close()
    finally:
        server.stop()
    f50, p50 = statistics.median(formula), statistics.median(plain)
    print(f"formula step -> next step's first request: p50 {f50 * 1000:.0f} ms "
          f"({len(formula)} steps)")
    print(f"plain run end -> resume's first request:  p50 {p50 * 1000:.0f} ms "
          f"({len(plain)} resumes)")
    print(f"ratio (formula step / plain resume): {f50 / p50:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.repeat))
