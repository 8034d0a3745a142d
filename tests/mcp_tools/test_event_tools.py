"""list_events through a real MCP client: what happened to runs, read from a cursor."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.runtime import Runtime
from core.types import Role, RunState
from mcp_tools.registry import Caller, default_caller
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import call, connected, error


async def test_list_events_tells_a_runs_story_and_a_cursor_to_keep_up_from(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-done", [s.text("All done.")])
    await runtime.projects.add("demo", str(repo))
    async with connected(runtime) as client:
        run = await call(client, "start_run", project="demo", prompt="SCRIPT:agent-done go")
        assert (await wait_state(runtime, run["id"])).state is RunState.REVIEW
        listed = await call(client, "list_events", run_id=run["id"][:5])
        assert [(e["kind"], e["data"]["new"]) for e in listed["events"]] == [
            ("RunStateChanged", "queued"), ("RunStateChanged", "running"),
            ("RunStateChanged", "review")]
        first = listed["events"][0]
        assert first["summary"] == f"run {run['id']} queued: started by mcp"
        assert first["run_id"] == run["id"] and first["project"] == "demo"
        seqs = [e["seq"] for e in listed["events"]]
        assert seqs == sorted(seqs) and listed["next_cursor"] == seqs[-1]
        # From a cursor: only what is newer; waiting, until the next event comes.
        assert (await call(client, "list_events", after=seqs[-1]))["events"] == []
        assert (await call(client, "list_events", after=seqs[0], limit=1))["events"] == [
            listed["events"][1]]
        waiting = asyncio.create_task(call(client, "list_events", after=seqs[-1],
                                           wait_seconds=60))
        await runtime.review.close(run["id"], actor="cli")
        newer = await asyncio.wait_for(waiting, 60)
        assert [e["summary"] for e in newer["events"]] == [
            f"run {run['id']} review -> closed: closed by cli"]
        assert newer["next_cursor"] == newer["events"][0]["seq"]


async def test_list_events_is_open_to_viewers_and_names_an_unknown_run(
        runtime: Runtime) -> None:
    token = default_caller.set(Caller("telegram:viewer", Role.VIEWER))
    try:
        async with connected(runtime) as client:
            assert await call(client, "list_events") == {"events": [], "next_cursor": 0}
            assert "no run 'feed'" in await error(client, "list_events", run_id="feed")
            assert "after" in await error(client, "list_events", after=-1)
    finally:
        default_caller.reset(token)
