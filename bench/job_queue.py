"""The job queue on SQLite and on Redis Streams: enqueue, enqueue-to-claim latency, and claim
throughput with one and four consumers.

    uv run python bench/job_queue.py [--jobs 10000] [--samples 1000] [--backends sqlite,redis]

For each backend, on fresh storage (a SQLite file in a temporary directory; a `redis-server`
the benchmark starts, without persistence):

- enqueue/s: ``--jobs`` jobs (priority 0) enqueued one after another;
- enqueue→claim p50/p99: with those jobs waiting, one job of priority 1 is enqueued and then
  claimed (it is the first in line) and acked, ``--samples`` times; the time from the start of
  the enqueue to the end of the claim, i.e. what the queue adds between a producer and an idle
  worker that asks at once (a worker polling for work adds its polling interval on top);
- claim+ack/s: the waiting jobs drained by 1, then (after enqueueing them again) by 4 consumer
  processes, each claiming and acking as fast as it can; every job must be claimed exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.jobs import JobQueue, SqliteJobQueue  # noqa: E402
from core.jobs.redis_streams import RedisJobQueue  # noqa: E402
from tests.core.jobs.redis_server import RedisServer  # noqa: E402


async def open_queue(backend: str, target: str) -> JobQueue:
    if backend == "sqlite":
        return await SqliteJobQueue.open_file(Path(target))
    return await RedisJobQueue(target).open()


async def fill(queue: JobQueue, jobs: int) -> tuple[float, set[str]]:
    """Enqueue ``jobs`` jobs; return enqueues per second and their ids."""
    start = time.perf_counter()
    ids = {await queue.enqueue("bench.job", {"n": n}) for n in range(jobs)}
    return jobs / (time.perf_counter() - start), set(ids)


async def latencies(queue: JobQueue, samples: int) -> list[float]:
    out = []
    for n in range(samples):
        start = time.perf_counter()
        job_id = await queue.enqueue("bench.urgent", {"n": n}, priority=1)
        lease = await queue.claim("bench", lease_seconds=60)
        out.append(time.perf_counter() - start)
        assert lease is not None and lease.job_id == job_id, "claimed the wrong job"
        await queue.ack(lease)
    return out


async def consume(backend: str, target: str, ids_file: str) -> None:
    """A consumer process: open, say ready, wait for 'go', drain the queue, report."""
    queue = await open_queue(backend, target)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    got = []
    worker = f"consumer-{Path(ids_file).stem}"
    while (lease := await queue.claim(worker, lease_seconds=60)) is not None:
        await queue.ack(lease)
        got.append(lease.job_id)
    end = time.time()
    await queue.close()
    Path(ids_file).write_text(json.dumps(got))
    print(json.dumps({"end": end, "count": len(got)}), flush=True)


async def drain(backend: str, target: str, consumers: int, workdir: Path,
                expected: set[str]) -> float:
    """Claim+ack per second of ``consumers`` processes draining the queue."""
    procs = []
    for n in range(consumers):
        ids_file = str(workdir / f"ids-{consumers}-{n}.json")
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--consume", backend, target, ids_file,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
    for proc in procs:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
    start = time.time()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    ends: list[float] = []
    for proc in procs:
        assert proc.stdout is not None
        ends.append(json.loads(await proc.stdout.readline())["end"])
        await proc.wait()
    claimed: list[str] = []
    for n in range(consumers):
        claimed += json.loads((workdir / f"ids-{consumers}-{n}.json").read_text())
    assert len(claimed) == len(set(claimed)), "a job was claimed twice"
    assert set(claimed) == expected, "a job was not claimed"
    return len(claimed) / (max(ends) - start)


async def bench(backend: str, target: str, jobs: int, samples: int,
                workdir: Path) -> dict[str, float]:
    queue = await open_queue(backend, target)
    try:
        enqueue_rate, waiting = await fill(queue, jobs)
        lat = sorted(await latencies(queue, samples))
        one = await drain(backend, target, 1, workdir, waiting)
        _, waiting = await fill(queue, jobs)
        four = await drain(backend, target, 4, workdir, waiting)
    finally:
        await queue.close()
    return {"enqueue/s": enqueue_rate,
            "p50 ms": statistics.median(lat) * 1000,
            "p99 ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            "1 consumer/s": one, "4 consumers/s": four}


async def main(args: argparse.Namespace) -> None:
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gluon-bench-") as tmp:
        workdir = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows[backend] = await bench(backend, str(workdir / "gluon.db"), args.jobs,
                                            args.samples, workdir)
            else:
                with RedisServer(workdir / "redis") as server:
                    rows[backend] = await bench(backend, server.url, args.jobs, args.samples,
                                                workdir)
    columns = ["enqueue/s", "p50 ms", "p99 ms", "1 consumer/s", "4 consumers/s"]
    print(f"\n{args.jobs} jobs waiting; enqueue→claim over {args.samples} samples; "
          "claim+ack throughput draining them")
    print(f"{'backend':<8}" + "".join(f"{c:>15}" for c in columns))
    for backend, row in rows.items():
        print(f"{backend:<8}" + "".join(
            f"{row[c]:>15.2f}" if c.endswith("ms") else f"{row[c]:>15,.0f}" for c in columns))
    if len(rows) == 2:
        s, r = rows["sqlite"], rows["redis"]
        print(f"4 consumers vs 1: sqlite {s['4 consumers/s'] / s['1 consumer/s']:.2f}x, "
              f"redis {r['4 consumers/s'] / r['1 consumer/s']:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--consume":
        asyncio.run(consume(sys.argv[2], sys.argv[3], sys.argv[4]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,redis")
    asyncio.run(main(parser.parse_args()))
