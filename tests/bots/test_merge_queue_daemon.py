"""The merge queue in `gluon serve`: killed with SIGKILL mid-queue, the next daemon goes on from
each entry's recorded state and merges every entry once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from bots.cli.client import ToolClient, connect
from tests.bots.test_daemon_recovery import Daemon, config_for, daemon, env  # noqa: F401
from tests.conftest import git
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def finished(client: ToolClient, run_id: str) -> dict[str, Any]:
    for _ in range(20):
        waited = await client.call("wait_for_run", {"run": run_id, "timeout_seconds": 30})
        if waited["done"]:
            break
    detail: dict[str, Any] = await client.call("get_run", {"run": run_id})
    assert detail["run"]["state"] == "review", detail["run"]["state_reason"]
    return detail


async def queue_of(client: ToolClient) -> list[dict[str, Any]]:
    listed = await client.call("list_merge_queue", {"include_ended": True})
    entries: list[dict[str, Any]] = listed["entries"]
    return entries


async def ended(client: ToolClient) -> list[dict[str, Any]]:
    for _ in range(1800):
        entries = await queue_of(client)
        if all(e["state"] in ("merged", "failed", "cancelled") for e in entries):
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"the merge queue did not finish in 3 minutes: {entries}")


async def test_a_daemon_killed_mid_queue_goes_on_at_the_next_start_and_merges_each_entry_once(
        env: dict[str, str], daemon: Daemon, repo: Path,  # noqa: F811
        model_server: ScriptedModelServer) -> None:
    home = Path(env["GLUON_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # The project's tests wait for a flag in the run's worktree (the sandbox sees no more).
    (home / "config.toml").write_text(
        "[projects.demo]\n"
        "test_command = \"while [ ! -e release.flag ]; do sleep 0.1; done\"\n")
    model_server.script("SCRIPT:one", [s.write("one.txt", "1\n"), s.text("One.")])
    model_server.script("SCRIPT:two", [s.write("two.txt", "2\n"), s.text("Two.")])
    initial = git(repo, "rev-parse", "main")
    await daemon.start()
    config = config_for(env)
    async with connect(config) as client:
        await client.call("add_project", {"path": str(repo), "name": "demo"})
        runs = [await client.call("start_run", {"project": "demo", "prompt": key})
                for key in ("SCRIPT:one", "SCRIPT:two")]
        first, second = [(await finished(client, run["id"]))["run"]["cwd"] for run in runs]
        (Path(second) / "release.flag").touch()  # only the first entry's tests are held
        await client.call("enqueue_merge", {"runs": [r["id"] for r in runs]})
        # The first entry's tests are running when Gluon dies.
        for _ in range(1200):
            entries = await queue_of(client)
            if entries[0]["state"] == "checking":
                break
            await asyncio.sleep(0.1)
    assert entries[0]["state"] == "checking", entries
    assert daemon.kill(signal.SIGKILL) == -signal.SIGKILL
    assert git(repo, "rev-parse", "main") == initial

    (Path(first) / "release.flag").touch()  # its tests pass from now on
    await daemon.start()
    async with connect(config) as client:
        entries = await ended(client)
    daemon.kill(signal.SIGTERM)

    assert [e["state"] for e in entries] == ["merged", "merged"], [e["reason"] for e in entries]
    in_merge_order = sorted(entries, key=lambda e: e["ended_at"])
    assert [e["run_id"] for e in in_merge_order] == [r["id"] for r in runs]
    # Each run's work is on main once, and nothing of the runs is left behind.
    assert {"one.txt", "two.txt"} <= set(git(repo, "ls-tree", "--name-only", "main").split())
    for name in ("one.txt", "two.txt"):
        assert len(git(repo, "log", "--format=%H", "main", "--", name).split()) == 1
    assert git(repo, "branch", "--list", "gluon/*") == ""
