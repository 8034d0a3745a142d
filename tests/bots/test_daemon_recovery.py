"""The daemon: reached over HTTP MCP by other commands, and recovering runs after SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.cli.client import connect
from core.config import Config, load_config
from core.jobs import JobState, SqliteJobQueue
from core.runs.executor import LEASE_SECONDS, RECOVERED_PRIORITY, START, start_key
from tests.conftest import INSIDE_BASH, git, session_saved, until
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

GLUON = str(Path(sys.executable).parent / "gluon")


@pytest.fixture
def env(tmp_path: Path, model_server: ScriptedModelServer) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "GLUON_HOME": str(tmp_path / "home"), "GLUON_SERVER_PORT": "0",
            "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model_server.base_url,
            "GLUON_TELEGRAM_TOKEN": "123:SECRET"}


class Daemon:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.home = Path(env["GLUON_HOME"])
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.home.parent / "daemon.log"

    async def start(self) -> None:
        # Popen returns at once; the daemon must outlive this coroutine.
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            [GLUON, "serve"], env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), start_new_session=True)
        # The daemon is another process: wait (bounded) for it to say where it listens.
        for _ in range(1200):
            if (self.home / "daemon.json").exists() and self._pid_in_file() == self.proc.pid:
                return
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text())
            await asyncio.sleep(0.05)
        raise AssertionError("the daemon did not start in 60 s")

    def _pid_in_file(self) -> int | None:
        try:
            return int(json.loads((self.home / "daemon.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def kill(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemon(env: dict[str, str]) -> Iterator[Daemon]:
    d = Daemon(env)
    yield d
    d.stop()


def config_for(env: dict[str, str]) -> Config:
    return load_config(env=dict(env))


async def test_a_run_survives_its_daemon_being_killed_and_the_next_daemon_resumes_it_once(
        env: dict[str, str], daemon: Daemon, repo: Path,
        model_server: ScriptedModelServer) -> None:
    after = s.write("after.txt", "after the restart\n")
    # Whether the killed turn left a (synthetic) reply in the history depends on timing, so
    # the resumed session may be at step 1 or 2: both write after.txt.
    model_server.script("SCRIPT:recover", [s.write("before.txt", "before the crash\n"),
                                           s.hold("crash", then=after), after,
                                           s.text("finished after the restart")])
    await daemon.start()
    config = config_for(env)
    async with connect(config) as client:
        assert client.remote
        await client.call("add_project", {"path": str(repo), "name": "demo"})
        run = await client.call("start_run", {"project": "demo", "prompt": "SCRIPT:recover"})
    held = await model_server.await_request(lambda r: r.script_key == "SCRIPT:recover"
                                            and r.step == 1)
    await until(lambda: session_saved(config.home, held.session_id), "the session saved")

    assert daemon.kill(signal.SIGKILL) == -signal.SIGKILL
    model_server.release("crash")  # an orphaned agent would now go on; it must be gone
    await daemon.start()
    restarted = time.monotonic()
    resumed = await model_server.await_request(
        lambda r: r.script_key == "SCRIPT:recover" and "Gluon restarted" in r.last_user_text())
    # The dead daemon's lease was let run out at the start, not waited out.
    assert time.monotonic() - restarted < LEASE_SECONDS
    async with connect(config) as client:
        for _ in range(60):
            waited = await client.call("wait_for_run", {"run": run["id"], "timeout_seconds": 30})
            if waited["done"]:
                break
        detail = await client.call("get_run", {"run": run["id"]})
    daemon.kill(signal.SIGTERM)

    states = [t["to_state"] for t in detail["transitions"]]
    assert states[:4] == ["queued", "running", "interrupted", "queued"], states
    assert detail["run"]["state"] == "review", detail["run"]["state_reason"]
    assert resumed.session_id == held.session_id
    files = {f["path"] for f in detail["run"]["changed_files"]}
    assert files == {"before.txt", "after.txt"}
    # Only the resumed agent answered after the crash: the killed daemon's agent died with it.
    after_crash = [r for r in model_server.requests
                   if r.script_key == "SCRIPT:recover" and r.step >= 1]
    assert all("Gluon restarted" in r.all_text() for r in after_crash[1:])
    # One agent resumed the session, once: a second agent would have sent its own restart.
    restarts = [r for r in model_server.requests if r.script_key == "SCRIPT:recover"
                and "Gluon restarted" in r.last_user_text()]
    assert len(restarts) == 1, [r.session_id for r in restarts]
    queue = await SqliteJobQueue.open_file(config.db_path)
    try:
        jobs = sorted((j for j in await queue.list(kind=START)
                       if j.payload["run_id"] == run["id"]), key=lambda j: j.enqueued_at)
    finally:
        await queue.close()
    # The first start job was claimed again after the kill; the recovery is a second attempt.
    assert [(j.key, j.state, j.tries, j.priority) for j in jobs] == [
        (start_key(run["id"], 1), JobState.DONE, 2, 0),
        (start_key(run["id"], 2), JobState.DONE, 1, RECOVERED_PRIORITY)]


async def test_the_daemon_shuts_down_cleanly_and_its_live_runs_resume_at_the_next_start(
        env: dict[str, str], daemon: Daemon, repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:stop", [s.hold("stop"), s.text("done after restart")])
    await daemon.start()
    config = config_for(env)
    async with connect(config) as client:
        await client.call("add_project", {"path": str(repo), "name": "demo"})
        run = await client.call("start_run", {"project": "demo", "prompt": "SCRIPT:stop"})
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:stop")
    assert daemon.kill(signal.SIGTERM) == 0
    assert not (Path(env["GLUON_HOME"]) / "daemon.json").exists()

    model_server.release("stop")
    await daemon.start()
    async with connect(config) as client:
        waited = await client.call("wait_for_run", {"run": run["id"], "timeout_seconds": 60})
        detail = await client.call("get_run", {"run": run["id"]})
    assert waited["run"]["state"] == "review"
    reasons = [(t["to_state"], t["reason"]) for t in detail["transitions"]]
    assert ("interrupted", "Gluon stopped (shut down) while the run was live") in reasons
    assert ("queued", "resumed by recovery") in reasons


async def test_a_daemon_killed_inside_a_bash_command_merges_no_sandbox_stand_ins(
        env: dict[str, str], daemon: Daemon, repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:killbash", [s.bash(INSIDE_BASH),
                                            s.text("finished after the restart")])
    await daemon.start()
    config = config_for(env)
    async with connect(config) as client:
        await client.call("add_project", {"path": str(repo), "name": "demo"})
        run = await client.call("start_run", {"project": "demo", "prompt": "SCRIPT:killbash"})
    cwd = Path(run["cwd"])
    await until(lambda: (cwd / "started.flag").exists(), "the Bash command's start")

    assert daemon.kill(signal.SIGKILL) == -signal.SIGKILL
    await daemon.start()
    async with connect(config) as client:
        waited = await client.call("wait_for_run", {"run": run["id"], "timeout_seconds": 120})
        assert waited["run"]["state"] == "review", waited["run"]["state_reason"]
        merged = await client.call("merge_run", {"run": run["id"]})
    assert merged["merged"], merged["message"]
    on_main = set(git(repo, "ls-tree", "-r", "--name-only", "main").splitlines())
    assert on_main == {"README.md", "app.py", "started.flag"}


def gluon_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GLUON, *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


async def test_a_queued_run_keeps_its_task_and_its_place_when_the_daemon_is_killed(
        env: dict[str, str], daemon: Daemon, repo: Path,
        model_server: ScriptedModelServer) -> None:
    env["GLUON_AGENTS_MAX_CONCURRENT"] = "1"
    model_server.script("SCRIPT:older", [s.write("older.txt", "1\n"),
                                         s.hold("older", then=s.text("older done")),
                                         s.text("older done")])
    model_server.script("SCRIPT:newer", [s.write("newer.txt", "2\n"), s.text("newer done")])
    await daemon.start()
    config = config_for(env)
    async with connect(config) as client:
        await client.call("add_project", {"path": str(repo), "name": "demo"})
        older = await client.call("start_run", {"project": "demo", "prompt": "SCRIPT:older"})
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:older"
                                         and r.step == 1)
        newer = await client.call("start_run", {"project": "demo", "prompt": "SCRIPT:newer"})
        assert newer["state"] == "queued"

    assert daemon.kill(signal.SIGKILL) == -signal.SIGKILL
    model_server.release("older")
    # A command while the daemon is down only reads: it neither recovers nor starts runs.
    listed = gluon_cli(env, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    states = {r["id"]: r["state"] for r in json.loads(listed.stdout)["runs"]}
    assert states == {older["id"]: "running", newer["id"]: "queued"}
    assert not [r for r in model_server.requests if r.script_key == "SCRIPT:newer"]

    await daemon.start()
    async with connect(config) as client:
        for run in (older, newer):
            waited = await client.call("wait_for_run", {"run": run["id"],
                                                        "timeout_seconds": 120})
            assert waited["done"], waited["run"]["state_reason"]
        older_detail = await client.call("get_run", {"run": older["id"]})
        newer_detail = await client.call("get_run", {"run": newer["id"]})

    assert newer_detail["run"]["state"] == "review", newer_detail["run"]["state_reason"]
    assert [t["to_state"] for t in newer_detail["transitions"]] == [
        "queued", "running", "review"]
    assert [f["path"] for f in newer_detail["run"]["changed_files"]] == ["newer.txt"]
    assert newer_detail["run"]["result_text"] == "newer done"
    assert older_detail["run"]["state"] == "review", older_detail["run"]["state_reason"]
    assert [f["path"] for f in older_detail["run"]["changed_files"]] == ["older.txt"]
    # First in, first out: the older run went on before the newer one started.
    order = [r.script_key for r in model_server.requests
             if r.script_key in ("SCRIPT:older", "SCRIPT:newer")]
    last_older = max(i for i, key in enumerate(order) if key == "SCRIPT:older")
    assert order.index("SCRIPT:newer") > last_older
