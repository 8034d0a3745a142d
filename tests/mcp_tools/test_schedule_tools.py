"""The schedule tools through a real MCP client."""

from __future__ import annotations

import time
from pathlib import Path

from core.runtime import Runtime
from tests.mcp_tools.client import call, connected, error


async def test_add_list_pause_resume_and_remove_a_schedule(runtime: Runtime,
                                                           repo: Path) -> None:
    async with connected(runtime) as client:
        await call(client, "add_project", path=str(repo))
        added = await call(client, "add_schedule", project="demo", cron="0 7 * * mon-fri",
                           prompt="hunt the flaky tests", tz="Europe/Berlin",
                           overlap="queue", priority=3)
        assert (added["cron"], added["tz"], added["overlap"], added["priority"]) == (
            "0 7 * * mon-fri", "Europe/Berlin", "queue", 3)
        fires = added["next_fires"]
        assert len(fires) == 3 and fires == sorted(fires) and fires[0] > time.time()
        assert all(time.strftime("%a", time.gmtime(f)) not in ("Sat", "Sun") for f in fires)
        assert added["created_by"] == "mcp" and added["fires"] == 0

        listed = (await call(client, "list_schedules"))["schedules"]
        assert [s["id"] for s in listed] == [added["id"]]
        assert (await call(client, "list_schedules", project="demo"))["schedules"] == listed

        paused = await call(client, "pause_schedule", schedule=added["id"][:3])
        assert paused["paused"] is True and paused["next_fires"] == []
        resumed = await call(client, "resume_schedule", schedule=added["id"])
        assert resumed["paused"] is False and resumed["next_fires"] == fires
        removed = await call(client, "remove_schedule", schedule=added["id"])
        assert removed["id"] == added["id"]
        assert (await call(client, "list_schedules"))["schedules"] == []


async def test_schedule_tools_refuse_bad_input_in_one_line(runtime: Runtime,
                                                           repo: Path) -> None:
    async with connected(runtime) as client:
        await call(client, "add_project", path=str(repo))
        said = await error(client, "add_schedule", project="demo", cron="0 9 * *",
                           prompt="x")
        assert said.endswith("`0 9 * *`: 4 fields, expected 5 (minute hour day-of-month "
                             "month day-of-week)")
        said = await error(client, "add_schedule", project="demo", cron="0 9 * * *",
                           prompt="x", tz="Moon/Base")
        assert "unknown time zone 'Moon/Base'" in said
        said = await error(client, "add_schedule", project="nope", cron="0 9 * * *",
                           prompt="x")
        assert "no project named 'nope'" in said
        said = await error(client, "pause_schedule", schedule="zzz")
        assert "no schedule 'zzz'; add one with add_schedule" in said
        assert (await call(client, "list_schedules"))["schedules"] == []
