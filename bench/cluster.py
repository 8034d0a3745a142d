"""What running agents on ``gluon worker`` processes costs: start latency, failover, throughput.

    uv run python bench/cluster.py [--runs 5] [--kills 10] [--throughput 30] [--lease 3]

Real processes throughout, as in ``tests/bots/test_workers.py`` (whose helpers it reuses): a
``redis-server``, ``gluon serve`` as the coordinator, ``gluon worker`` processes with data dirs
of their own, the real Claude Code CLI against the scripted model server, a bare git remote.

1. **Start latency**: from the run's ``queued`` event to the scripted model server receiving
   the run's first request, p50 over ``--runs`` runs, on one worker and on a single-process
   ``gluon serve`` without Redis (runs execute in it); printed with their ratio.
2. **Failover**: two workers; a run's model request is held, the worker holding the run is
   SIGKILLed, and the time from the kill to the run's next model request (on the other
   worker, once the dead one's lease ran out) is taken; p50/p99 over ``--kills``. The lease
   (``cluster.lease_seconds``, ``--lease``) bounds it from below and is printed with it.
3. **Throughput**: ``--throughput`` short runs (one text reply each) started at once, on 1
   worker and on 3 workers (``max_runs`` 2 each), runs per minute from the first start to the
   last run in review. All the processes share this machine: on 2 cores it shows the cluster's
   overhead, not a speed-up.

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run_start import pct  # noqa: E402
from tests.bots.cluster_env import Cluster, wait_until  # noqa: E402
from tests.bots.conftest import Gluon, stop  # noqa: E402
from tests.conftest import make_repo  # noqa: E402
from tests.core.jobs.redis_server import RedisServer  # noqa: E402
from tests.fakes import scripts as s  # noqa: E402
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer  # noqa: E402

ENDED = {"review", "failed", "cancelled", "merged"}


class Arrival:
    """The wall time the server receives the first request of script ``key`` other than
    ``besides``, taken in a thread started before the request can come."""

    def __init__(self, server: ScriptedModelServer, key: str,
                 besides: RecordedRequest | None = None) -> None:
        self.at: float | None = None
        self.request: RecordedRequest | None = None

        def matches(request: RecordedRequest) -> bool:
            return request.script_key == key and request is not besides

        def wait() -> None:
            self.request = server.wait_for_request(matches, timeout=300)
            self.at = time.time()
        self.thread = threading.Thread(target=wait, daemon=True)
        self.thread.start()

    def wait(self) -> float:
        self.thread.join(timeout=310)
        assert self.at is not None, "no request arrived"
        return self.at


def queued_at(gluon: Gluon, run_id: str) -> float:
    events = gluon.json("events", "--run", run_id)["events"]
    return float(min(e["at"] for e in events if e["kind"] == "RunStateChanged"
                     and e["data"]["new"] == "queued"))


def ended(gluon: Gluon, run_id: str) -> bool:
    return gluon.json("show", run_id)["run"]["state"] in ENDED


def start_latency(gluon: Gluon, server: ScriptedModelServer, tag: str, n: int) -> list[float]:
    """Seconds from each run's queued event to its first model request."""
    delays = []
    for i in range(n):
        key = f"SCRIPT:{tag}-{i}"
        server.script(key, [s.text("Done.")])
        arrival = Arrival(server, key)
        run_id = str(gluon.json("run", "demo", f"{key} say done")["id"])
        delays.append(arrival.wait() - queued_at(gluon, run_id))
        wait_until(partial(ended, gluon, run_id), run_id)
    return delays


def local_latency(tmp: Path, server: ScriptedModelServer, n: int) -> list[float]:
    gluon = Gluon(tmp / "local", server)
    (tmp / "local").mkdir()
    daemon = gluon.serve()
    try:
        gluon.ok("project", "add", str(make_repo(gluon.cwd / "demo")))
        return start_latency(gluon, server, "local", n)
    finally:
        stop(daemon)


def worker_of(cluster: Cluster, run_id: str) -> str | None:
    return cluster.show(run_id)["worker"]  # type: ignore[no-any-return]


def failover(cluster: Cluster, server: ScriptedModelServer, kills: int) -> list[float]:
    """Seconds from SIGKILLing the worker that holds a run to the run's next model request."""
    for name in ("a", "b"):
        cluster.start_worker(name)
    delays = []
    for i in range(kills):
        key, hold = f"SCRIPT:fo-{i}", f"fo-{i}"
        server.script(key, [s.hold(hold, s.text("Done after the failover."))])
        first = Arrival(server, key)
        run_id = cluster.run(f"{key} wait")
        first.wait()
        holder = str(wait_until(partial(worker_of, cluster, run_id), "the run's worker"))
        arrival = Arrival(server, key, besides=first.request)
        killed = time.time()
        cluster.kill_worker(holder, signal.SIGKILL)
        delays.append(arrival.wait() - killed)
        assert cluster.show(run_id)["worker"] != holder
        server.release(hold)
        cluster.wait_state(run_id, *ENDED, timeout=120)
        cluster.start_worker(holder)  # the same name, a new process: two workers again
    return delays


def throughput(cluster: Cluster, server: ScriptedModelServer, workers: int, n: int) -> float:
    """Runs per minute for ``n`` one-reply runs started at once."""
    for name in list(cluster.workers):
        stop(cluster.workers.pop(name))  # type: ignore[arg-type]
    names = [f"t{workers}-{k}" for k in range(workers)]
    for name in names:
        cluster.start_worker(name)
    started = time.time()
    ids = []
    for i in range(n):
        key = f"SCRIPT:tp{workers}-{i}"
        server.script(key, [s.text("Done.")])
        ids.append(cluster.run(f"{key} say done"))

    def all_ended() -> bool:
        states = {r["id"]: r["state"] for r in cluster.gluon.json("runs", "--limit", "500")
                  ["runs"]}
        return all(states.get(run_id) in ENDED for run_id in ids)
    wait_until(all_ended, "every run ended", timeout=1800)
    minutes = (time.time() - started) / 60
    for name in names:
        stop(cluster.workers.pop(name))  # type: ignore[arg-type]
    return n / minutes


def main(args: argparse.Namespace) -> None:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as name, ScriptedModelServer() as server:
        tmp = Path(name)
        local = local_latency(tmp, server, args.runs)
        with RedisServer(tmp / "redis") as redis_server:
            (tmp / "cluster").mkdir()
            gluon = Gluon(tmp / "cluster", server)
            cluster = Cluster(gluon, redis_server.url)
            gluon.env |= {"GLUON_SERVER_TOKEN": "bench-cluster-token-0123456789",
                          "GLUON_CLUSTER_LEASE_SECONDS": str(args.lease),
                          "GLUON_AGENTS_MAX_CONCURRENT_PER_PROJECT": "6"}
            cluster.daemon = gluon.serve()
            try:
                gluon.ok("project", "add", str(cluster.repo))
                cluster.start_worker("w1")
                remote = start_latency(gluon, server, "worker", args.runs)
                stop(cluster.workers.pop("w1"))  # type: ignore[arg-type]
                figures |= {
                    "start_local_p50_s": round(pct(local, 0.5), 3),
                    "start_worker_p50_s": round(pct(remote, 0.5), 3),
                    "start_ratio_worker_to_local": round(pct(remote, 0.5) / pct(local, 0.5), 2),
                    "start_runs": args.runs}
                print(json.dumps(figures), flush=True)
                if args.kills:
                    delays = failover(cluster, server, args.kills)
                    figures |= {"failover_p50_s": round(pct(delays, 0.5), 3),
                                "failover_p99_s": round(pct(delays, 0.99), 3),
                                "failover_kills": args.kills, "lease_seconds": args.lease}
                    print(json.dumps(figures), flush=True)
                if args.throughput:
                    one = throughput(cluster, server, 1, args.throughput)
                    three = throughput(cluster, server, 3, args.throughput)
                    figures |= {"runs_per_min_1_worker": round(one, 1),
                                "runs_per_min_3_workers": round(three, 1),
                                "throughput_runs": args.throughput, "max_runs_per_worker": 2}
            finally:
                cluster.close()
                stop(cluster.daemon)
    print(json.dumps(figures))
    print(f"failover counts from the kill; a dead worker's runs wait for its lease "
          f"(cluster.lease_seconds = {args.lease:g} s here) to run out.")
    print("All workers, the coordinator and the agents share this machine: on 2 cores the "
          "throughput figures show the cluster's overhead, not a speed-up.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per start-latency figure")
    parser.add_argument("--kills", type=int, default=10, help="workers killed for failover")
    parser.add_argument("--throughput", type=int, default=30, help="runs per throughput figure")
    parser.add_argument("--lease", type=float, default=3.0, help="cluster.lease_seconds")
    main(parser.parse_args())
