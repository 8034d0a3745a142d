"""The ``gluon`` command against a running daemon: what it loads, where its paths point, what it
says when the daemon stops under it, and ``gluon serve`` on a port that is taken."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.bots.conftest import Gluon, finish, refused, run_id_of, stop
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


async def test_sigterm_ends_serve_within_seconds_and_a_follower_says_so_in_one_line(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:long", [s.bash("echo started"), s.hold("long")])
    with FakeTelegram() as telegram:
        gluon.env |= {"GLUON_TELEGRAM_TOKEN": telegram.token,
                      "GLUON_TELEGRAM_API_BASE_URL": telegram.base_url}
        daemon = gluon.serve()
        follower = None
        try:
            await telegram.wait_for(lambda f: any(c[0] == "setMyCommands" for c in f.calls),
                                    timeout=60)  # the bot polls Telegram
            # Subprocesses: this test's own event loop waits on the fake Telegram meanwhile.
            added = await asyncio.to_thread(gluon.process, "project", "add", str(repo))
            assert added.code == 0, added
            started = await asyncio.to_thread(gluon.process, "run", "demo",
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
