"""What the quality gates cost a run whose project has no gate commands.

    uv run python bench/gates_idle.py [--files 20000] [--calls 2000]

After every turn that ends well the gates decide whether they have anything to run: they read
``.gluon/project.toml`` and look for a linter's and a test runner's files in the worktree
(:func:`core.gates.plan.plan_for`), with no subprocess and no database access when nothing is
found. This prints that decision's time on a large generated repository without any gate
command, next to the cost of the cheapest gate command there is (``true`` in the sandbox),
which every project with gates pays per command.

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gen_repo import generate_repo  # noqa: E402
from core.agent.sandboxed import run_command  # noqa: E402
from core.config import Config  # noqa: E402
from core.gates.plan import plan_for  # noqa: E402


async def main(files: int, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="gluon-bench-gates-") as tmp:
        repo = Path(tmp) / "repo"
        generate_repo(repo, files)
        config = Config.model_validate({"home": str(Path(tmp) / "home")})
        timings = []
        for _ in range(calls):
            started = time.perf_counter()
            plan = plan_for(config, "bench", repo)
            timings.append(time.perf_counter() - started)
        assert plan.enabled and not plan.commands, plan
        commands = []
        for _ in range(5):
            outcome = await run_command(config, "bench", repo, Path(tmp) / "agent-home",
                                        "true", 60)
            commands.append(outcome.seconds)
        idle = statistics.median(timings)
        command = statistics.median(commands)
        print(f"repository: {files} files")
        print(f"no gate commands: the decision takes {idle * 1e6:.0f} us (p50), "
              f"{sorted(timings)[int(len(timings) * 0.99)] * 1e6:.0f} us (p99)")
        print(f"one sandboxed `true`: {command * 1e3:.1f} ms (p50); ratio "
              f"{command / idle:.0f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.files, args.calls))
