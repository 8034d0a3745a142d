"""What the ``gluon`` command tests share: the command run as a user runs it, with its own HOME
and data dir, against real git repositories and the scripted model server: in the test's own
process (``tests.bots.in_process``) unless the process is what a test is about."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.bots.in_process import Done as Done
from tests.core.jobs.redis_server import RedisServer

if TYPE_CHECKING:
    from tests.bots.cluster_env import Cluster
from tests.bots.in_process import run_main
from tests.fakes.model_server import ScriptedModelServer

GLUON = str(Path(sys.executable).parent / "gluon")
RUN_ID = re.compile(r"^run ([0-9a-f]{8}) ", re.MULTILINE)
COMMIT_HELLO = ("printf 'hello\\n' > hello.txt && git add hello.txt "
                "&& git commit -q -m 'Add hello.txt'")


class Gluon:
    """Runs ``gluon`` in ``tmp`` with its own HOME and data dir: calls in this process, and
    the console script as a subprocess (:meth:`process`, :meth:`start`, :meth:`serve`)."""

    def __init__(self, tmp: Path, server: ScriptedModelServer) -> None:
        self.cwd = tmp
        self.home = tmp / "home"
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
                    "GLUON_HOME": str(self.home), "ANTHROPIC_API_KEY": "sk-test",
                    "ANTHROPIC_BASE_URL": server.base_url,
                    # Pre-approved, so a Bash step never waits for a person.
                    "GLUON_AGENTS_ALLOWED_TOOLS": "Bash"}

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 stdin: bytes | None = None, cwd: Path | None = None) -> Done:
        """The command run to its end in this process (see ``tests.bots.in_process``)."""
        return run_main(list(args), self.env if env is None else env, cwd or self.cwd,
                        stdin or b"")

    def process(self, *args: str, env: dict[str, str] | None = None,
                stdin: bytes | None = None, cwd: Path | None = None) -> Done:
        """The console script run to its end as a subprocess."""
        done = subprocess.run([GLUON, *args], cwd=cwd or self.cwd,
                              env=self.env if env is None else env, input=stdin,
                              stdin=subprocess.DEVNULL if stdin is None else None,
                              capture_output=True, timeout=120)
        return Done(done.returncode, done.stdout.decode(errors="backslashreplace"),
                    done.stderr.decode(errors="backslashreplace"))

    def ok(self, *args: str, cwd: Path | None = None) -> Done:
        done = self(*args, cwd=cwd)
        assert done.code == 0, (args, done)
        return done

    def json(self, *args: str) -> dict[str, Any]:
        data = json.loads(self.ok(*args, "--json").out)
        assert isinstance(data, dict)
        return data

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([GLUON, *args], cwd=self.cwd,
                                env=self.env if env is None else env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def serve(self) -> subprocess.Popen[str]:
        """``gluon serve`` on a free port, from a folder of its own; returns once it listens."""
        self.env["GLUON_SERVER_PORT"] = "0"
        where = self.cwd / "daemon-cwd"
        where.mkdir(exist_ok=True)
        daemon = subprocess.Popen([GLUON, "serve"], cwd=where, env=self.env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        try:
            while self.daemon_pid() != daemon.pid:
                assert daemon.poll() is None, daemon.communicate()
                assert time.monotonic() < deadline, "the daemon did not start in 60 s"
                time.sleep(0.05)
        except BaseException:
            stop(daemon)  # a daemon that did not come up must not outlive the test
            raise
        return daemon

    def daemon_pid(self) -> int | None:
        """The pid ``daemon.json`` names: the process serving the data dir's tools."""
        try:
            return int(json.loads((self.home / "daemon.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def elsewhere(self, name: str) -> dict[str, str]:
        """The environment with a data dir of its own, for a command run alongside others."""
        return {**self.env, "GLUON_HOME": str(self.cwd / name)}


@pytest.fixture
def gluon(tmp_path: Path, model_server: ScriptedModelServer) -> Gluon:
    return Gluon(tmp_path, model_server)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` for a test module's cluster (emptied by each ``cluster``)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def cluster(gluon: Gluon, redis_server: RedisServer) -> Iterator[Cluster]:
    """``gluon serve`` coordinating through ``redis_server``, with the project demo; workers
    are started by the test (see :mod:`tests.bots.cluster_env`)."""
    from tests.bots.cluster_env import running_cluster  # it imports this module

    with running_cluster(gluon, redis_server.url) as made:
        yield made


@pytest.fixture
def daemon(gluon: Gluon) -> Iterator[subprocess.Popen[str]]:
    """A running ``gluon serve`` for ``gluon``'s data dir."""
    proc = gluon.serve()
    try:
        yield proc
    finally:
        stop(proc)


def refused(done: Done) -> str:
    """The one line a refused command prints on stderr (it must exit 1 and print nothing else)."""
    assert done.code == 1 and done.out == "", done
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gluon: "), done.err
    return lines[0]


def run_id_of(done: Done) -> str:
    found = RUN_ID.search(done.out)
    assert found, done.out
    return found.group(1)


def finish(proc: subprocess.Popen[str]) -> Done:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop(proc)
    return Done(proc.returncode, out, err)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=30)
