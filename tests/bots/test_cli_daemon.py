"""``gluon serve`` and the ``gluon`` command against it: runs going on in the background, what a
command loads, where its paths point, what it says when the daemon stops under it, and
``gluon serve`` on a port that is taken."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.bots.conftest import COMMIT_HELLO, Gluon, finish, refused, run_id_of, stop
from tests.conftest import make_repo
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

HEAVY = {"mcp", "pydantic", "claude_agent_sdk", "httpx", "httpx2", "uvicorn", "starlette",
         "anthropic", "aiosqlite", "rich"}


def imported(stderr: str) -> set[str]:
    """Top-level packages named by ``PYTHONPROFILEIMPORTTIME`` output."""
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+([\w.]+)$", stderr, re.MULTILINE)
    return {name.split(".")[0] for name in found}


def test_a_command_talking_to_the_daemon_loads_no_mcp_sdk_and_its_relative_paths_are_its_own(
        gluon: Gluon, daemon: subprocess.Popen[str], repo: Path) -> None:
    # A relative path means the command's folder, not the daemon's.
    assert gluon("project", "add", ".", cwd=repo).code == 0
    assert gluon.json("project", "show", "demo")["path"] == str(repo)
    profiled = gluon.process("runs", env={**gluon.env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert profiled.code == 0 and profiled.out == "no runs\n", profiled
    loaded = imported(profiled.err)
    assert "bots" in loaded  # the profile did cover the command
    assert not loaded & HEAVY, sorted(loaded & HEAVY)

    # Tool errors and structured results come through the light client unchanged.
    assert "no run 'abcdef12'" in refused(gluon("show", "abcdef12"))
    assert [p["name"] for p in gluon.json("project", "list")["projects"]] == ["demo"]
    entries = gluon.json("activity", "--action", "tool.add_project")["entries"]
    assert [e["actor"] for e in entries] == ["cli"]


async def test_serve_runs_agents_in_the_background_and_sigterm_ends_it_within_seconds(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:bg", [s.bash(COMMIT_HELLO), s.text("Committed in the background.")])
    model_server.script("SCRIPT:long", [s.bash("echo started"), s.hold("long")])
    with FakeTelegram() as telegram:
        gluon.env |= {"GLUON_TELEGRAM_TOKEN": telegram.token,
                      "GLUON_TELEGRAM_API_BASE_URL": telegram.base_url}
        daemon = gluon.serve()
        follower = None
        try:
            url = json.loads((gluon.home / "daemon.json").read_text())["url"]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", url) and not url.endswith(":0/mcp")
            await telegram.wait_for(lambda f: any(c[0] == "setMyCommands" for c in f.calls),
                                    timeout=60)  # the bot polls Telegram
            # Subprocesses: this test's own event loop waits on the fake Telegram meanwhile.
            added = await asyncio.to_thread(gluon.process, "project", "add", str(repo))
            assert added.code == 0, added

            # A run in the daemon goes on by itself: the command returns at once, and
            # `gluon logs -f` follows the run to its end.
            bg = await asyncio.to_thread(gluon.process, "run", "demo", "SCRIPT:bg commit hello",
                                         "--json")
            assert bg.code == 0, bg
            bg_run = json.loads(bg.out)
            assert bg_run["state"] in ("queued", "running")
            logged = await asyncio.to_thread(gluon.process, "logs", bg_run["id"], "-f")
            assert logged.code == 0, logged
            assert "Committed in the background." in logged.out
            assert f"run {bg_run['id']} review: " in logged.out
            shown = await asyncio.to_thread(gluon.process, "show", bg_run["id"], "--json")
            ran = json.loads(shown.out)["run"]
            assert ran["state"] == "review" and ran["commits"][0]["subject"] == "Add hello.txt"

            # SIGTERM with a run live and a command following it. The run is in a project of
            # its own, so it starts cold, while demo's warm agent waits for demo's next run.
            other = make_repo(gluon.cwd / "other")
            added = await asyncio.to_thread(gluon.process, "project", "add", str(other))
            assert added.code == 0, added
            started = await asyncio.to_thread(gluon.process, "run", "other",
                                              "SCRIPT:long a long task")
            assert started.code == 0, started
            run_id = run_id_of(started)
            await model_server.await_request(
                lambda r: r.script_key == "SCRIPT:long" and r.step == 1)
            follower = gluon.start("logs", run_id, "-f")  # a request in flight over /mcp
            assert follower.stdout is not None
            assert "echo started" in follower.stdout.readline()
            signalled = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            _, err = await asyncio.to_thread(daemon.communicate, timeout=60)
            took = time.monotonic() - signalled
            followed = await asyncio.to_thread(finish, follower)
        finally:
            stop(daemon)
            if follower is not None:
                stop(follower)
    assert daemon.returncode == 0, err
    # A few seconds: the bot stops polling, /mcp stops listening without waiting for the
    # follower's long request, the agent is stopped (about 2 s on a busy machine).
    assert took < 10, f"gluon serve took {took:.1f} s to stop"
    assert "Traceback" not in err and "shutting down" in err, err
    assert "Gluon is serving" in err and not (gluon.home / "daemon.json").exists()
    # The follower says so in one line and does not take the data dir over.
    assert followed.code == 1, followed
    lines = followed.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gluon: "), followed.err
    assert f"the Gluon daemon with pid {daemon.pid} stopped" in lines[0], lines[0]
    assert f"gluon logs -f {run_id}" in lines[0]
    assert gluon.daemon_pid() is None
    shown = await asyncio.to_thread(gluon.process, "show", run_id, "--json")
    assert json.loads(shown.out)["run"]["state"] == "interrupted", shown


def test_serve_on_a_taken_port_names_the_setting_to_change(gluon: Gluon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = gluon.process("serve", env={**gluon.env, "GLUON_SERVER_PORT": str(port)})
    line = refused(done)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "server.port" in line, line
    assert "GLUON_SERVER_PORT" in line
