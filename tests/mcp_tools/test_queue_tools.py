"""The work-queue tools through a real MCP client, on real runs of the Claude Code CLI against
the scripted model server."""

from __future__ import annotations

import time
from pathlib import Path

from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, make_repo, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import call, connected, error


async def test_the_queue_lists_queued_runs_in_start_order_with_why_each_waits(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    api, web = make_repo(tmp_path / "api"), make_repo(tmp_path / "web")
    model_server.script("SCRIPT:busy", [s.hold("busy", then=s.text("done"))])
    config = make_config(tmp_path / "home", model_server, max_concurrent_per_project=1)
    async with Runtime(config, environ=daemon_environ()) as rt, connected(rt) as client:
        await call(client, "add_project", path=str(api))
        await call(client, "add_project", path=str(web))
        busy = await call(client, "queue_work", project="api", prompt="SCRIPT:busy")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:busy")
        second = await call(client, "queue_work", project="api", prompt="second on api")
        later = await call(client, "queue_work", project="web", prompt="tonight",
                           start_at="+3h", priority=-2)
        urgent = await call(client, "queue_work", project="api", prompt="urgent on api",
                            priority=20, key="chat:urgent")
        assert (busy["source"], busy["created_by"], busy["priority"]) == ("mcp", "mcp", 0)
        assert later["not_before"] > time.time() + 3 * 3600 - 60

        items = (await call(client, "list_queue"))["items"]
        assert [i["id"] for i in items] == [urgent["id"], second["id"], later["id"]]
        assert [i["position"] for i in items] == [1, 2, 3]
        assert items[0]["why"] == "waiting: project 'api' has 1 live runs, its limit"
        assert items[1]["why"] == items[0]["why"]
        assert items[2]["why"].startswith("starts ")
        assert [(i["priority"], i["source"], i["requested_by"]) for i in items] == [
            (20, "mcp", "mcp"), (0, "mcp", "mcp"), (-2, "mcp", "mcp")]
        only_web = (await call(client, "list_queue", project="web"))["items"]
        assert [(i["id"], i["position"]) for i in only_web] == [(later["id"], 1)]

        # Moved below the normal run; the same key queues nothing new.
        moved = await call(client, "reprioritize_queued", run=urgent["id"][:6], priority=-1)
        assert moved["priority"] == -1
        again = await call(client, "queue_work", project="api", prompt="x", key="chat:urgent")
        assert again["id"] == urgent["id"]
        items = (await call(client, "list_queue"))["items"]
        assert [i["id"] for i in items] == [second["id"], urgent["id"], later["id"]]

        cancelled = await call(client, "cancel_queued", run=later["id"])
        assert cancelled["state"] == "cancelled"
        assert [i["id"] for i in (await call(client, "list_queue"))["items"]] == [
            second["id"], urgent["id"]]
        said = await error(client, "cancel_queued", run=busy["id"])
        assert said.endswith(f"run '{busy['id']}' is running, not waiting in the queue; stop "
                             "it with cancel_run (`gluon cancel`)")
        said = await error(client, "reprioritize_queued", run=later["id"], priority=3)
        assert "is cancelled, not waiting in the queue" in said

        model_server.release("busy")
        done = [await wait_state(rt, i) for i in (busy["id"], second["id"], urgent["id"])]
        assert [r.state for r in done] == [RunState.REVIEW] * 3
        assert (done[1].started_at or 0) < (done[2].started_at or 0)
        assert (await call(client, "list_queue"))["items"] == []


async def test_queue_tools_refuse_bad_input_in_one_line(runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        await call(client, "add_project", path=str(repo))
        said = await error(client, "queue_work", project="demo", prompt="x",
                           start_at="tomorrow morning")
        assert "start time 'tomorrow morning' is not understood; use HH:MM" in said
        said = await error(client, "queue_work", project="demo", prompt="x",
                           start_at="2001-01-01 09:00")
        assert said.endswith("start time 2001-01-01 09:00 is in the past; give a later time, "
                             "or leave it out to start now")
        said = await error(client, "queue_work", project="demo", prompt="x", priority=500)
        assert "priority" in said and "100" in said
        said = await error(client, "queue_work", project="gone", prompt="x")
        assert "no project named 'gone'" in said
        said = await error(client, "list_queue", project="gone")
        assert "no project named 'gone'" in said
        assert (await call(client, "list_runs"))["runs"] == []
