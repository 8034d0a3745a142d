"""Memory of `gluon serve` when HTTP MCP clients open sessions and never close them.

    uv run python bench/mcp_sessions.py [--sessions 1200] [--limit 200]

Starts the daemon twice, once with `server.max_sessions` far above the number of sessions
(what it was like without a bound) and once with `--limit`, opens `--sessions` sessions
(initialize + initialized, then nothing: an abandoned client) and prints the daemon's resident
memory before and after, the sessions it keeps open, and the ratio of the two growths.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import Config  # noqa: E402
from mcp_tools.http import server_token  # noqa: E402

GLUON = str(Path(sys.executable).parent / "gluon")
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def abandon_sessions(home: Path, count: int, limit: int) -> tuple[float, float, int]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home.parent), "LANG": "C.UTF-8",
           "GLUON_HOME": str(home), "GLUON_SERVER_PORT": "0",
           "GLUON_SERVER_MAX_SESSIONS": str(limit), "ANTHROPIC_API_KEY": "sk-unused"}
    daemon = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the daemon runs on
        [GLUON, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if (home / "daemon.json").exists():
                break
            await asyncio.sleep(0.05)
        url = json.loads((home / "daemon.json").read_text())["url"]
        headers = {"Authorization": f"Bearer {server_token(Config(home=home))}",
                   "Accept": "application/json, text/event-stream"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            await http.get(url.removesuffix("/mcp") + "/health")
            before = rss_mb(daemon.pid)
            for _ in range(count):
                opened = await http.post(url, json=INIT)
                session = {"Mcp-Session-Id": opened.headers["mcp-session-id"],
                           "Mcp-Protocol-Version": "2025-06-18"}
                await http.post(url, json=INITIALIZED, headers=session)
            after = rss_mb(daemon.pid)
            health = (await http.get(url.removesuffix("/mcp") + "/health")).json()
        return before, after, int(health["sessions"])
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


async def main(count: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, bound in (("unbounded", count * 10), (f"max_sessions={limit}", limit)):
            before, after, kept = await abandon_sessions(Path(tmp) / name, count, bound)
            results[name] = after - before
            print(f"{name:>20}: {count} abandoned sessions, {kept} kept open; "
                  f"RSS {before:.0f} -> {after:.0f} MB (+{after - before:.0f} MB)")
        grown = list(results.values())
        print(f"growth with the bound / without: {grown[1] / max(grown[0], 0.1):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=1200)
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.limit))
