"""How long a `gluon` command takes against a running daemon, next to a bare Python start.

    uv run python bench/cli_start.py [--repeat 15] [--runs 50] [--source DIR]

Starts a real daemon (`gluon serve` on a free port, with a temporary GLUON_HOME holding
`--runs` runs), then times `gluon runs` from process start to exit, `--repeat` times, and
`python -c pass` as often. Prints the p50 and p90 of both and the ratio of the p50s; the
target is a `gluon runs` p50 under 0.4 s.

`--source DIR` times the CLI of another checkout of Gluon (for a before/after comparison)
against the same daemon: both are then started as `python -c "from bots.cli.main import main..."`
with DIR first on the path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seed_runs import seed  # noqa: E402
from tests.conftest import make_repo  # noqa: E402

GLUON = str(Path(sys.executable).parent / "gluon")
TARGET_S = 0.4


def timed(argv: list[str], env: dict[str, str], repeat: int, expect: str | None) -> list[float]:
    samples = []
    for n in range(repeat + 2):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or (expect is not None and expect not in done.stdout):
            raise SystemExit(f"{argv[-1]!r} failed: {done.stderr or done.stdout}")
        if n >= 2:  # the first two warm the page cache
            samples.append(elapsed)
    return samples


def describe(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    print(f"{name:<28} p50={p50 * 1000:7.1f} ms  p90={p90 * 1000:7.1f} ms")
    return p50


def start_daemon(env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    daemon = subprocess.Popen([GLUON, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if json.loads((home / "daemon.json").read_text())["pid"] == daemon.pid:
                return daemon
        except (OSError, ValueError, KeyError):
            pass
        if daemon.poll() is not None:
            raise SystemExit("the daemon did not start")
        time.sleep(0.05)
    daemon.kill()
    raise SystemExit("the daemon did not start in 60 s")


def main(repeat: int, runs: int, source: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        asyncio.run(seed(home, make_repo(root / "demo"), runs))
        env = {"PATH": os.environ["PATH"], "HOME": str(root), "LANG": "C.UTF-8",
               "GLUON_HOME": str(home), "GLUON_SERVER_PORT": "0",
               "ANTHROPIC_API_KEY": "sk-unused"}
        daemon = start_daemon(env, home)
        try:
            if source is None:
                cli, label = [GLUON], "gluon runs"
            else:
                code = (f"import sys; sys.path.insert(0, {str(source)!r}); "
                        "from bots.cli.main import main; sys.exit(main())")
                cli, label = [sys.executable, "-c", code], f"gluon runs ({source.name})"
            print(f"{runs} runs in the database, {repeat} repetitions, daemon pid {daemon.pid}")
            python = describe("python -c pass", timed([sys.executable, "-c", "pass"], env,
                                                      repeat, None))
            gluon = describe(label, timed([*cli, "runs"], env, repeat, "task number"))
            verdict = "met" if gluon < TARGET_S else "NOT met"
            print(f"ratio gluon runs / python -c pass (p50): {gluon / python:.1f}")
            print(f"target p50 < {TARGET_S:g} s: {verdict}")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--source", type=Path, help="time the CLI of this checkout instead")
    args = parser.parse_args()
    main(args.repeat, args.runs, args.source.resolve() if args.source else None)
