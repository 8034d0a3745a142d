"""Latency of a read-only tool call (list_runs, 1,000 runs in the database) over stdio and HTTP.

    uv run python bench/tool_latency.py [--runs 1000] [--calls 200]

Both servers are real processes: `gluon serve` (streamable HTTP with the bearer token) and
`gluon mcp` (stdio). The client is the MCP Python client. Prints p50 and p90 per transport;
the target is a p50 under 5 ms.
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

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import Config  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from mcp_tools.http import server_token  # noqa: E402
from tests.conftest import make_repo  # noqa: E402

GLUON = str(Path(sys.executable).parent / "gluon")
TARGET_MS = 5.0


async def seed(home: Path, repo: Path, runs: int) -> None:
    runtime = Runtime(Config(home=home))
    await runtime.open(resume_interrupted=False)
    try:
        await runtime.projects.add("demo", str(repo))
        for n in range(runs):
            await runtime.runs.store.insert(
                id=f"{n:08x}", project="demo", prompt=f"task number {n}", model="sonnet",
                use_worktree=0, cwd=str(repo), session_id=f"session-{n}", state="review",
                created_at=1_700_000_000.0 + n)
    finally:
        await runtime.close()


async def timed_calls(client: Client, calls: int) -> list[float]:
    for _ in range(10):  # warm-up
        await client.call_tool("list_runs", {})
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call_tool("list_runs", {})
        samples.append((time.perf_counter() - started) * 1000)
        assert not result.is_error and result.structured_content
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    verdict = "met" if p50 < TARGET_MS else "NOT met"
    print(f"list_runs over {name}: p50={p50:.2f} ms p90={p90:.2f} ms "
          f"(target p50 < {TARGET_MS:g} ms: {verdict})")


async def main(runs: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        await seed(home, make_repo(root / "demo"), runs)
        env = {"PATH": os.environ["PATH"], "HOME": str(root), "LANG": "C.UTF-8",
               "GLUON_HOME": str(home), "GLUON_SERVER_PORT": "0",
               "ANTHROPIC_API_KEY": "sk-unused"}
        print(f"{runs} runs in the database, {calls} calls each, default page size")

        params = StdioServerParameters(command=GLUON, args=["mcp"], env=env)
        async with Client(params) as client:
            report("stdio (gluon mcp, in-process runtime)", await timed_calls(client, calls))

        daemon = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the daemon runs on
            [GLUON, "serve"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                if (home / "daemon.json").exists():
                    break
                await asyncio.sleep(0.05)
            url = json.loads((home / "daemon.json").read_text())["url"]
            token = server_token(Config(home=home))
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
                    Client(streamable_http_client(url, http_client=http)) as client:
                report("HTTP (gluon serve, bearer token)", await timed_calls(client, calls))
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.calls))
