"""What the ``gluon`` command tests share: the console script run as a user runs it, with its
own HOME and data dir, against real git repositories and the scripted model server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.model_server import ScriptedModelServer

GLUON = str(Path(sys.executable).parent / "gluon")
RUN_ID = re.compile(r"^run ([0-9a-f]{8}) ", re.MULTILINE)
COMMIT_HELLO = ("printf 'hello\\n' > hello.txt && git add hello.txt "
                "&& git commit -q -m 'Add hello.txt'")


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


class Gluon:
    """Runs the ``gluon`` console script in ``tmp`` with its own HOME and data dir."""

    def __init__(self, tmp: Path, server: ScriptedModelServer) -> None:
        self.cwd = tmp
        self.home = tmp / "home"
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
                    "GLUON_HOME": str(self.home), "ANTHROPIC_API_KEY": "sk-test",
                    "ANTHROPIC_BASE_URL": server.base_url,
                    # Pre-approved, so a Bash step never waits for a person.
                    "GLUON_AGENTS_ALLOWED_TOOLS": "Bash"}

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Done:
        done = subprocess.run([GLUON, *args], cwd=self.cwd, env=self.env if env is None else env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)
        return Done(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Done:
        done = self(*args)
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

    def elsewhere(self, name: str) -> dict[str, str]:
        """The environment with a data dir of its own, for a command run alongside others."""
        return {**self.env, "GLUON_HOME": str(self.cwd / name)}


@pytest.fixture
def gluon(tmp_path: Path, model_server: ScriptedModelServer) -> Gluon:
    return Gluon(tmp_path, model_server)


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
