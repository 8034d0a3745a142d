"""A cluster for the tests: a real ``redis-server``, ``gluon serve`` as the coordinator and
``gluon worker`` processes, each a real subprocess with a data dir of its own, against a
project whose code lives in a bare git remote and the scripted model server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from tests.bots.conftest import GLUON, Gluon, stop
from tests.conftest import git, make_repo

LEASE_SECONDS = 3.0  # short, so that a worker that dies is replaced within seconds
API_KEY = "sk-ant-api03-CLUSTER-SECRET-0123456789"
MCP_TOKEN = "mcp-bearer-CLUSTER-SECRET-0123456789"


def wait_until(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll ``check`` (something outside this process) until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


class Cluster:
    """The coordinator (``gluon``'s data dir), its workers, the project and its remote."""

    def __init__(self, gluon: Gluon, redis_url: str) -> None:
        self.gluon = gluon
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        gluon.env |= {"GLUON_CLUSTER_REDIS_URL": redis_url,
                      "GLUON_CLUSTER_LEASE_SECONDS": str(LEASE_SECONDS),
                      "GLUON_AGENTS_MAX_CONCURRENT_PER_PROJECT": "4"}
        self.config = gluon.home / "config.toml"
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.daemon: subprocess.Popen[str]  # gluon serve: set by whoever starts it
        self.repo = make_repo(gluon.cwd / "demo")
        self.origin = gluon.cwd / "origin.git"
        git(gluon.cwd, "init", "-q", "--bare", str(self.origin))
        git(self.repo, "remote", "add", "origin", str(self.origin))
        git(self.repo, "push", "-q", "origin", "main")
        # The remote is a folder of this host, which stands for the other hosts too.
        gluon.home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(f'[projects.demo]\nremote = "{self.origin}"\n')

    def monitor(self) -> subprocess.Popen[bytes]:
        """Every command Redis executes from now on, written to ``redis-monitor.log``."""
        port = self.redis_url.rsplit(":", 1)[1].split("/")[0]
        out = (self.gluon.cwd / "redis-monitor.log").open("wb")
        proc = subprocess.Popen(["redis-cli", "-p", port, "monitor"], stdout=out,
                                stderr=subprocess.STDOUT)
        out.close()
        wait_until(lambda: b"OK" in (self.gluon.cwd / "redis-monitor.log").read_bytes(),
                   "redis-cli monitor")
        return proc

    def worker_env(self, name: str, **env: str) -> dict[str, str]:
        return {**self.gluon.env, "GLUON_HOME": str(self.gluon.cwd / f"worker-{name}"),
                "GLUON_WORKER_MAX_RUNS": "2", **env}

    def log_of(self, name: str) -> str:
        return (self.gluon.cwd / f"worker-{name}.log").read_text(errors="replace")

    def start_worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """``gluon worker --name NAME``; returns once its heartbeat is in Redis."""
        log = (self.gluon.cwd / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen([GLUON, "worker", "--name", name], cwd=self.gluon.cwd,
                                env=self.worker_env(name, **env), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
        log.close()
        self.workers[name] = proc

        def up() -> bool:
            assert proc.poll() is None, self.log_of(name)
            beat = self.redis.hget("gluon:workers", name)
            return bool(beat) and json.loads(str(beat))["pid"] == proc.pid
        wait_until(up, f"worker {name} up", timeout=60)
        return proc

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.workers[name]
        proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc.wait(timeout=60)

    def run(self, prompt: str) -> str:
        """Start a run on the coordinator; its id."""
        started = self.gluon.json("run", "demo", prompt)
        return str(started["id"])

    def show(self, run_id: str) -> dict[str, Any]:
        return self.gluon.json("show", run_id)

    def wait_state(self, run_id: str, *states: str, timeout: float = 90.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            shown = self.show(run_id)
            return shown if shown["run"]["state"] in states else None
        return dict(wait_until(reached, f"run {run_id} {' or '.join(states)}", timeout))

    def close(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
            stop(proc)  # type: ignore[arg-type]
        self.redis.close()


@contextmanager
def running_cluster(gluon: Gluon, redis_url: str) -> Iterator[Cluster]:
    """``gluon serve`` as the coordinator of an empty Redis at ``redis_url`` (with the
    environment ``gluon.env`` has now), with the project demo; stopped at the end, when what
    the coordinator and each worker said is printed (shown when the test fails)."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()
    gluon.env |= {"ANTHROPIC_API_KEY": API_KEY, "GLUON_SERVER_TOKEN": MCP_TOKEN}
    made = Cluster(gluon, redis_url)
    made.daemon = gluon.serve()
    try:
        gluon.ok("project", "add", str(made.repo))
        yield made
    finally:
        made.close()
        made.daemon.kill()
        _, err = made.daemon.communicate(timeout=30)
        print("--- gluon serve ---\n" + err[-20000:])
        for name in made.workers:
            print(f"--- worker {name} ---\n" + made.log_of(name)[-20000:])
