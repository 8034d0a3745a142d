"""What live status pages cost: event-to-screen latency with many boards open, and the daemon's
CPU with 100 live streams while runs work.

    uv run python bench/web_live.py [--pages 20] [--runs 20] [--streams 100] [--working 10]

A real ``gluon serve`` (its own process, so its CPU is measured alone) with the scripted model
server in this process, the real Claude Code CLI for every run, and Debian's headless Chromium.

1. **Event to DOM**: ``--pages`` signed-in browsers (contexts) show the board. ``--runs`` runs
   start one after another and each ends in review. For every run and every tab: the time from
   the ``RunStateChanged ... -> review`` event (its ``at``, stamped when the change is stored)
   to the tab's board showing the card in the Review column (a MutationObserver in the tab).
   Prints p50, p99 and max over runs x pages.
2. **CPU with live streams**: ``--working`` runs that work for a few seconds each (two tool
   calls, then streamed text), started together, first with no page open, then with
   ``--streams`` board streams (``GET /events``, Server-Sent Events, as many open pages would
   hold) connected. Prints the daemon's CPU seconds and the runs' wall time for both, and the
   ratios: open pages must not slow the runs.

The page weight of the board is measured by ``bench/web_page.py --url <sign-in link>``.

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import make_repo  # noqa: E402
from tests.fakes.model_server import (  # noqa: E402
    RecordedRequest,
    ScriptedModelServer,
    bash,
    hold,
    slow_text,
    text,
)

GLUON = str(Path(sys.executable).parent / "gluon")
LINK = re.compile(r"https?://\S+/signin/\S+")
GATE = "cpu-phase"
WATCH_REVIEW = """() => {
  window.shown = {};
  const seen = () => {
    for (const card of document.querySelectorAll("#col-review .card")) {
      const id = card.id.replace(/^run-/, "");
      if (!(id in window.shown)) window.shown[id] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver(seen).observe(document.body, {childList: true, subtree: true});
  seen();
}"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Daemon:
    """``gluon serve`` in its own process on a free port."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> None:
        log = (self.home.parent / "daemon.log").open("wb")
        self.proc = subprocess.Popen([GLUON, "serve"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        info = self.home / "daemon.json"
        for _ in range(600):
            if info.exists():
                with contextlib.suppress(ValueError):
                    self.base = json.loads(info.read_text())["url"].removesuffix("/mcp")
                    return
            time.sleep(0.05)
        raise RuntimeError("gluon serve did not start; see daemon.log")

    def cpu(self) -> float:
        """The daemon's own CPU seconds so far (user + system)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def gluon(self, *args: str) -> str:
        done = subprocess.run([GLUON, *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"gluon {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def link(self) -> str:
        found = LINK.search(self.gluon("web-link"))
        assert found, "gluon web-link printed no link"
        return found.group(0)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


async def review_times(d: Daemon, run_ids: list[str]) -> dict[str, float]:
    """When each run's change to review was stored (the event's ``at``)."""
    found: dict[str, float] = {}
    for run_id in run_ids:
        events = json.loads(d.gluon("events", "--run", run_id, "--json", "--limit", "50"))
        for e in events["events"]:
            if e["kind"] == "RunStateChanged" and e["data"].get("new") == "review":
                found[run_id] = e["at"]
    return found


async def wait_review(d: Daemon, run_ids: list[str], limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        runs = json.loads(d.gluon("runs", "--json", "--limit", "200"))
        states = {r["id"]: r["state"] for r in runs["runs"]}
        if all(states.get(r) in ("review", "failed", "cancelled") for r in run_ids):
            bad = [r for r in run_ids if states[r] != "review"]
            assert not bad, f"runs ended without review: {bad}"
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("runs did not finish")


def start(d: Daemon, prompt: str) -> str:
    run = json.loads(d.gluon("run", "demo", prompt, "--json"))
    return str(run["id"])


async def latency(d: Daemon, model: ScriptedModelServer, pages: int, runs: int) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        context = await browser.new_context()
        first = await context.new_page()
        await first.goto(d.link())
        await first.get_by_role("button", name="Sign in").click()
        await first.wait_for_url(f"{d.base}/")
        # One browser context per page, as if each were another person's browser: a browser
        # holds at most six connections to one host, and a shown page keeps its stream open.
        cookies = await context.cookies()
        tabs: list[Page] = [first]
        for _ in range(pages - 1):
            other = await browser.new_context()
            await other.add_cookies(cookies)  # type: ignore[arg-type]
            tab = await other.new_page()
            await tab.goto(f"{d.base}/")
            tabs.append(tab)
        for tab in tabs:
            await tab.evaluate(WATCH_REVIEW)
        ids = []
        for i in range(runs):
            model.script(f"SCRIPT:quick-{i}", [text("Done.")])
            ids.append(start(d, f"SCRIPT:quick-{i} say done"))
        await wait_review(d, ids)
        at = await review_times(d, ids)
        deadline = time.monotonic() + 30
        shown: list[dict[str, float]] = []
        while time.monotonic() < deadline:
            shown = [await tab.evaluate("window.shown") for tab in tabs]
            if all(all(r in s for r in ids) for s in shown):
                break
            await asyncio.sleep(0.2)
        delays = [s[r] / 1000 - at[r] for s in shown for r in ids if r in s and r in at]
        missing = len(ids) * len(tabs) - len(delays)
        ms = [x * 1000 for x in delays]
        print(f"event -> DOM with {pages} boards open, {runs} runs ({len(ms)} samples"
              f"{f', {missing} never shown' if missing else ''}): p50 {pct(ms, 0.5):.1f} ms, "
              f"p99 {pct(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")
        await browser.close()


@contextlib.asynccontextmanager
async def streams(d: Daemon, n: int) -> AsyncIterator[list[int]]:
    """``n`` open board streams (Server-Sent Events), each read as it arrives."""
    received = [0] * n
    async with httpx.AsyncClient(base_url=d.base, timeout=None,
                                 limits=httpx.Limits(max_connections=n + 5)) as http:
        token = d.link().rsplit("/", 1)[1]
        signed = await http.post(f"/signin/{token}")
        assert signed.status_code == 303, signed.text

        async def read(i: int) -> None:
            async with http.stream("GET", "/events") as answer:
                assert answer.status_code == 200
                async for chunk in answer.aiter_bytes():
                    received[i] += len(chunk)

        tasks = [asyncio.create_task(read(i)) for i in range(n)]
        await asyncio.sleep(1.0)
        try:
            yield received
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def first_of(key: str) -> Callable[[RecordedRequest], bool]:
    return lambda request: request.script_key == key


async def working(d: Daemon, model: ScriptedModelServer, tag: str, n: int) -> tuple[float, float]:
    """Start ``n`` runs that work a few seconds; the daemon's CPU and the wall time from their
    release until all are in review."""
    ids = []
    for i in range(n):
        model.script(f"SCRIPT:{tag}-{i}", [
            hold(f"{GATE}-{tag}", bash("git status --short | wc -l", "Count changed files")),
            bash("ls | wc -l", "Count files"), slow_text(3.0, "thinking ")])
        ids.append(start(d, f"SCRIPT:{tag}-{i} look around"))
    for i in range(n):
        await model.await_request(first_of(f"SCRIPT:{tag}-{i}"), timeout=120)
    cpu0, t0 = d.cpu(), time.monotonic()
    model.release(f"{GATE}-{tag}")
    await wait_review(d, ids)
    return d.cpu() - cpu0, time.monotonic() - t0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--working", type=int, default=10)
    args = parser.parse_args()
    model = ScriptedModelServer()
    model.start()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "LANG": "C.UTF-8",
               "GLUON_HOME": str(home), "GLUON_SERVER_PORT": "0",
               "GLUON_AGENTS_WARM": "0", "GLUON_AGENTS_MAX_CONCURRENT": "32",
               "GLUON_AGENTS_MAX_CONCURRENT_PER_PROJECT": "32",
               "GLUON_AGENTS_ALLOWED_TOOLS": "Bash",
               "ANTHROPIC_API_KEY": "sk-bench", "ANTHROPIC_BASE_URL": model.base_url}
        repo = make_repo(tmp / "demo")
        d = Daemon(home, env)
        d.start()
        try:
            d.gluon("project", "add", str(repo))
            await latency(d, model, args.pages, args.runs)
            quiet_cpu, quiet_wall = await working(d, model, "quiet", args.working)
            async with streams(d, args.streams) as received:
                busy_cpu, busy_wall = await working(d, model, "busy", args.working)
            print(f"{args.working} working runs, no page open: daemon CPU {quiet_cpu:.2f} s, "
                  f"runs done in {quiet_wall:.2f} s")
            print(f"{args.working} working runs, {args.streams} live streams: daemon CPU "
                  f"{busy_cpu:.2f} s, runs done in {busy_wall:.2f} s "
                  f"(every stream got {min(received)}-{max(received)} bytes)")
            print(f"ratios with {args.streams} streams: CPU {busy_cpu / quiet_cpu:.2f}x, "
                  f"run wall time {busy_wall / quiet_wall:.2f}x")
        finally:
            d.stop()
            model.stop()
            errors = [line for line in (tmp / "daemon.log").read_text().splitlines()
                      if "Traceback" in line or " ERROR " in line or "Error" in line]
            if errors:
                print((tmp / "daemon.log").read_text()[-3000:])
                print(f"the daemon logged {len(errors)} error lines; the first: {errors[0]}")


if __name__ == "__main__":
    asyncio.run(main())
