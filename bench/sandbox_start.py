"""What the agent sandbox costs a run's start.

    uv run python bench/sandbox_start.py [--repeat 7] [--files 2000]

Two runtimes, each with its own data dir, over one generated repository (``bench/gen_repo.py``;
a small one does, since a run's worktree is taken over from a spare made beforehand) and one
scripted model server (``tests/fakes``), with the real Claude Code CLI bundled with
claude-agent-sdk. What each side includes:

* ``sandboxed`` (``agents.sandbox = "required"``, so it fails loudly without bubblewrap and
  socat): the launcher runs the whole CLI under ``bwrap`` (``core/sandbox.bwrap_command``: new
  user/pid/ipc/uts namespaces, read-only /usr and /etc, the worktree, agent home and git dir
  bound in), ``agent_spec`` also asks git for the common dir, and the CLI gets Claude Code's own
  Bash sandbox settings with ``enableWeakerNestedSandbox`` and ``failIfUnavailable``.
* ``unsandboxed`` (``agents.sandbox = "off"``): no bwrap around the CLI, but the CLI still gets
  Claude Code's own Bash sandbox settings (enabled, not required) because bubblewrap and socat
  are available; so this side is "no outer sandbox", not "no sandbox at all". The scripted
  answer makes no Bash call, so neither side runs a command in the inner sandbox; what the
  inner sandbox costs at CLI start is in both.

For each it times ``runtime.runs.start_run(project, prompt)`` to the model server receiving
that run's first request, the two kinds alternating per attempt so drift hits both alike; each
run is waited for to end, then both pools settle (the spare worktree is made again) before the
next attempt. Attempt 0 of each kind warms caches and is not counted. It prints p50/p90 per
kind and the ratio of p50s (target <= 1.10), then medians of where each start's time goes.
This is not a test: it asserts nothing beyond the runs working, it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gen_repo import generate_repo  # noqa: E402
from bench.run_start import PROJECT, StartPath, gluon_attempt, pct  # noqa: E402
from core.agent import sandbox  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from tests.conftest import daemon_environ, make_config  # noqa: E402
from tests.fakes.model_server import ScriptedModelServer  # noqa: E402

TARGET_RATIO = 1.10
KINDS = (("sandboxed", "required"), ("unsandboxed", "off"))


async def measure(repo: Path, tmp: Path, repeat: int) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind, _ in KINDS}
    with ScriptedModelServer() as server:
        runtimes: dict[str, tuple[Runtime, StartPath]] = {}
        try:
            for kind, mode in KINDS:
                config = make_config(tmp / f"home-{kind}", server, sandbox=mode, warm=0)
                rt = Runtime(config, environ=daemon_environ())
                await rt.open()
                runtimes[kind] = (rt, StartPath(rt))  # in before add: close() if add fails
                await rt.projects.add(PROJECT, str(repo))
            for rt, _ in runtimes.values():
                await rt.runs.pool.settle()  # both spares ready before attempt 0
            for n in range(repeat + 1):
                # Alternate which kind goes first too, so neither always follows the other.
                order = KINDS if n % 2 == 0 else KINDS[::-1]
                for kind, _ in order:
                    rt, path = runtimes[kind]
                    figures = await gluon_attempt(rt, server, path, n, tag=kind)
                    await rt.runs.pool.settle()
                    if n:
                        results[kind].append(figures)
            check_launchers({kind: path for kind, (_, path) in runtimes.items()})
        finally:
            for rt, _ in runtimes.values():
                await rt.close()
    return results


def check_launchers(paths: dict[str, StartPath]) -> None:
    """Every sandboxed run's agent started under bwrap and no unsandboxed one did: else the two
    sides measured the same thing."""
    for kind, path in paths.items():
        wrapped = [any(Path(part).name == "bwrap" for part in command)
                   for command in path.commands]
        expected = kind == "sandboxed"
        if not wrapped or any(w != expected for w in wrapped):
            raise RuntimeError(f"{kind} agents: {sum(wrapped)} of {len(wrapped)} run bwrap")


def report(results: dict[str, list[dict[str, float]]]) -> None:
    box = [r["total"] for r in results["sandboxed"]]
    off = [r["total"] for r in results["unsandboxed"]]
    s50, s90, u50, u90 = pct(box, .5), pct(box, .9), pct(off, .5), pct(off, .9)
    ratio = s50 / u50
    print(f"sandboxed_start: sandboxed p50={s50:.3f}s p90={s90:.3f}s | unsandboxed "
          f"p50={u50:.3f}s p90={u90:.3f}s | ratio p50={ratio:.2f} (target <= {TARGET_RATIO:.2f}"
          f": {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print("  attempts (s): sandboxed " + " ".join(f"{t:.2f}" for t in box)
          + " | unsandboxed " + " ".join(f"{t:.2f}" for t in off))
    for kind, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"  {kind:<11} medians: start_run returns {med['start_run_call']:.3f}s | "
              f"agent_spec {med['spec']:.3f}s | SDK connect (spawn + CLI boot + initialize) "
              f"{med['sdk_open']:.3f}s | prompt to request {med['open_to_request']:.3f}s | "
              f"git {med['git_calls']:.0f} calls {med['git_s']:.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=2000, help="files in the repository")
    parser.add_argument("--repeat", type=int, default=7, help="measured starts of each kind")
    parser.add_argument("--tmpdir", help="where to make the temp dir (default: $TMPDIR or /tmp)")
    args = parser.parse_args()
    status = sandbox.probe()
    if not status.available:
        sys.exit(f"the sandboxed side cannot run: {status.problem}")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="gluon-bench-sandbox-", dir=args.tmpdir))
    os.environ["GLUON_HOME"] = str(tmp / "gluon-home")
    try:
        repo = tmp / "repo"
        t = time.perf_counter()
        generate_repo(repo, args.files)
        print(f"repository: {args.files} files, generated in {time.perf_counter() - t:.1f}s; "
              f"bwrap {status.bwrap}, uid {os.getuid()} outside")
        report(asyncio.run(measure(repo, tmp, args.repeat)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"benchmark took {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
