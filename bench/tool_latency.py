"""Latency of a read-only tool call (list_runs, 1,000 runs in the database) over stdio and HTTP.

    uv run python bench/tool_latency.py [--runs 1000] [--calls 200]

Both servers are real processes: `gluon serve` (streamable HTTP with the bearer token) and
`gluon mcp` (stdio). Two clients per transport:

- raw JSON-RPC (one request written, one response read): what the server and the transport
  cost, whatever the client. The target, a p50 under 5 ms, applies to this one.
- the MCP Python client, which also re-validates every structured result against the tool's
  output schema with `jsonschema` (pure Python; most of its time goes there).

Prints p50 and p90 per transport and client.
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

from bench.seed_runs import seed  # noqa: E402
from core.config import Config  # noqa: E402
from mcp_tools.http import server_token  # noqa: E402
from tests.conftest import make_repo  # noqa: E402

GLUON = str(Path(sys.executable).parent / "gluon")
TARGET_MS = 5.0


CALL = {"jsonrpc": "2.0", "method": "tools/call",
        "params": {"name": "list_runs", "arguments": {}}}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED: dict[str, object] = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def check(response: dict[str, object]) -> None:
    result = response.get("result")
    assert isinstance(result, dict) and not result.get("isError"), response
    assert result.get("structuredContent"), response


async def raw_stdio(env: dict[str, str], calls: int) -> list[float]:
    proc = await asyncio.create_subprocess_exec(
        GLUON, "mcp", env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, limit=2**24)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def request(message: dict[str, object]) -> dict[str, object]:
        stdin.write(json.dumps(message).encode() + b"\n")
        await stdin.drain()
        while True:
            line = json.loads(await stdout.readline())
            if line.get("id") == message.get("id"):
                return dict(line)

    try:
        await request(INIT)
        stdin.write(json.dumps(INITIALIZED).encode() + b"\n")
        samples = []
        for n in range(calls + 10):
            started = time.perf_counter()
            check(await request({**CALL, "id": n + 1}))
            if n >= 10:  # the first ten warm up
                samples.append((time.perf_counter() - started) * 1000)
        return samples
    finally:
        stdin.close()
        await proc.wait()


async def raw_http(url: str, token: str, calls: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(headers=headers) as http:

        async def request(message: dict[str, object], extra: dict[str, str]
                          ) -> httpx2.Response:
            return await http.post(url, content=json.dumps(message), headers=extra)

        init = await request(INIT, {})
        session = {"Mcp-Session-Id": init.headers.get("mcp-session-id", ""),
                   "Mcp-Protocol-Version": "2025-06-18"}
        await request(INITIALIZED, session)
        samples = []
        for n in range(calls + 10):
            started = time.perf_counter()
            response = await request({**CALL, "id": n + 1}, session)
            body = response.text
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                body = next(line[5:] for line in body.splitlines()
                            if line.startswith("data:"))
            check(json.loads(body))
            if n >= 10:
                samples.append((time.perf_counter() - started) * 1000)
        return samples


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


def report(name: str, samples: list[float], target: bool = True) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    verdict = ("met" if p50 < TARGET_MS else "NOT met") if target else "not a target"
    print(f"list_runs over {name}: p50={p50:.2f} ms p90={p90:.2f} ms "
          f"(p50 < {TARGET_MS:g} ms: {verdict})")


async def main(runs: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        await seed(home, make_repo(root / "demo"), runs)
        env = {"PATH": os.environ["PATH"], "HOME": str(root), "LANG": "C.UTF-8",
               "GLUON_HOME": str(home), "GLUON_SERVER_PORT": "0",
               "ANTHROPIC_API_KEY": "sk-unused"}
        print(f"{runs} runs in the database, {calls} calls each, default page size")

        report("stdio, raw JSON-RPC", await raw_stdio(env, calls))
        params = StdioServerParameters(command=GLUON, args=["mcp"], env=env)
        async with Client(params) as client:
            report("stdio, MCP Python client", await timed_calls(client, calls), target=False)

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
            report("HTTP, raw JSON-RPC", await raw_http(url, token, calls))
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
                    Client(streamable_http_client(url, http_client=http)) as client:
                report("HTTP, MCP Python client", await timed_calls(client, calls),
                       target=False)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.calls))
