"""How fast GitHub webhook deliveries are answered and become queued runs.

    uv run python bench/webhooks.py [--deliveries 500] [--senders 8]

A Gluon runtime serves ``POST /hooks/github`` on a free port (the daemon's HTTP app), with one
project whose origin is a repository of the fake GitHub (``tests/fakes/github.py``). The first
run holds the project's only agent slot (``max_concurrent_per_project = 1``, the scripted model
holds its first request), so every later run stays queued and no other agent starts: what is
measured is Gluon's own work. ``--senders`` connections then post ``--deliveries`` signed
``issue_comment`` deliveries (each ``@gluon`` on an issue of its own) as fast as they are
answered, and it prints:

- ``answer``: the time to answer one delivery (p50, p99, max) and deliveries answered per
  second: GitHub gives a delivery 10 s;
- ``queued``: from a delivery's post to its run being queued (run created, its status comment
  posted on the fake GitHub), p50 and p99, and the time until the last one was;
- ``work``: the worker's time per delivery (start the run, react to the comment, post the
  status comment), p50 and p99, i.e. how many deliveries a second become runs.

This is not a test: it checks that every delivery made exactly one run, and prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bots.github_env import OPERATOR, REPO, github_config, link_origin, serving  # noqa: E402
from tests.conftest import make_repo  # noqa: E402
from tests.fakes import scripts as s  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.model_server import ScriptedModelServer  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


async def bench(deliveries: int, senders: int, tmp: Path) -> None:
    repo = make_repo(tmp / "demo")
    link_origin(repo, tmp)
    with ScriptedModelServer() as model, FakeGitHub() as github:
        model.script("SCRIPT:bench", [s.hold("bench")])
        github.add_repo(REPO)
        config = github_config(tmp / "home", model, github,
                               agents={"max_concurrent_per_project": 1, "warm": 0})
        async with serving(config, repo, github) as served:
            bodies = []
            for _ in range(deliveries):
                issue = github.add_issue(REPO, "A task SCRIPT:bench")
                bodies.append(github.delivery("issue_comment", github.issue_comment(
                    REPO, issue.number, "@gluon please", user=OPERATOR)))
            sent: dict[str, float] = {}
            answered: list[float] = []
            todo = list(reversed(bodies))

            async def sender(http: httpx.AsyncClient) -> None:
                while todo:
                    headers, body = todo.pop()
                    began = time.perf_counter()
                    sent[headers["X-GitHub-Delivery"]] = time.time()
                    answer = await http.post(served.url + "/hooks/github", content=body,
                                             headers=headers)
                    assert answer.status_code == 202, answer.text
                    answered.append(time.perf_counter() - began)

            began = time.perf_counter()
            async with httpx.AsyncClient(timeout=30) as http:
                await asyncio.gather(*(sender(http) for _ in range(senders)))
            answer_wall = time.perf_counter() - began
            async with asyncio.timeout(600):
                while True:  # the worker is in this process; its progress is in the table
                    done = await served.rt.hooks.deliveries(limit=deliveries)
                    if len(done) == deliveries and all(d.state != "queued" for d in done):
                        break
                    await asyncio.sleep(0.2)
            runs = await served.rt.runs.find(limit=deliveries + 1)
            assert len(runs) == deliveries, (len(runs), deliveries)
            assert all(d.state == "done" for d in done), {d.outcome for d in done}
            queued = [(d.processed_at or 0) - sent[d.delivery_id] for d in done]
            order = sorted(d.processed_at or 0 for d in done)
            work = [b - a for a, b in zip(order, order[1:], strict=False)]
            last = max(order) - min(sent.values())
            model.release("bench")
            print(f"deliveries {deliveries}, senders {senders}")
            print(f"answer   p50 {ms(pct(answered, 0.5))}  p99 {ms(pct(answered, 0.99))}  "
                  f"max {ms(max(answered))}  {deliveries / answer_wall:7.0f} deliveries/s "
                  f"answered ({answer_wall:.2f} s for all)")
            print(f"queued   p50 {ms(pct(queued, 0.5))}  p99 {ms(pct(queued, 0.99))}  "
                  f"last run queued {last:.2f} s after the first post")
            print(f"work     p50 {ms(statistics.median(work))}  p99 {ms(pct(work, 0.99))}  "
                  f"{len(work) / (max(order) - min(order)):7.1f} deliveries/s become runs")
            with contextlib.suppress(Exception):
                await served.rt.runs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(args.deliveries, args.senders, Path(tmp)))


if __name__ == "__main__":
    main()
