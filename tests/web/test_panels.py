"""The board's queue and schedules panels over HTTP, as a browser sends the forms: they show
what waits and why and what fires next, and their buttons act through the same tools as chat:
a priority moves a queued run, taking one out or removing a schedule asks to confirm first, and a
viewer sees them too and is refused, with the reason, when they press one. Both panels come
live with every board update."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from core.runtime import Runtime
from core.types import Role, RunState
from tests.web.site import messages, serving
from web import board
from web.panels.base import Panel, View


async def test_the_queue_panel_moves_and_takes_out_queued_runs(runtime: Runtime,
                                                               repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    later = time.time() + 3 * 3600
    first = await runtime.runs.start_run("demo", "tidy the changelog", not_before=later,
                                         actor="telegram:5", source="chat")
    second = await runtime.runs.start_run("demo", "bump the parser", not_before=later)
    async with serving(runtime) as site, site.person() as (http, csrf):
        board = (await http.get("/")).text
        panel = board.split('id="panel-queue"', 1)[1].split("</section>", 1)[0]
        assert "tidy the changelog" in panel and "telegram:5 via chat" in panel
        assert "starts" in panel  # why it waits: its start time

        moved = await http.post("/do/reprioritize_queued", data={
            "csrf": csrf, "back": "/", "run": second.id, "priority": "50"})
        assert moved.status_code == 303
        assert [i.id for i in await runtime.work.items()] == [second.id, first.id]
        bad = await http.post("/do/reprioritize_queued", data={
            "csrf": csrf, "back": "/", "run": second.id, "priority": "soon"})
        assert bad.status_code == 303
        assert "must be a whole number" in (await http.get("/")).text

        held = await http.post("/do/cancel_queued", data={"csrf": csrf, "back": "/",
                                                          "run": first.id})
        assert held.status_code == 200 and ">Confirm</button>" in held.text
        assert (await runtime.runs.get(first.id)).state is RunState.QUEUED  # not yet
        done = await http.post("/do/cancel_queued", data={
            "csrf": csrf, "back": "/", "run": first.id, "confirmed": "1"})
        assert done.status_code == 303
        assert (await runtime.runs.get(first.id)).state is RunState.CANCELLED

        forged = await http.post("/do/cancel_queued", data={
            "csrf": "forged", "run": second.id, "confirmed": "1"})
        assert forged.status_code == 403
        unknown = await http.post("/do/remove_project", data={"csrf": csrf, "name": "demo"})
        assert unknown.status_code == 303
        assert "no button for remove_project." in (await http.get("/")).text
    assert (await runtime.runs.get(second.id)).state is RunState.QUEUED
    assert [p.name for p in await runtime.projects.all()] == ["demo"]
    entries = [(e.actor, e.action, e.outcome) for e in await runtime.activity.recent(
        action_prefix="tool.cancel_queued")]
    assert entries[0] == ("cli", "tool.cancel_queued", "ok")


async def test_the_schedules_panel_pauses_resumes_and_removes_and_a_viewer_only_looks(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    made = await runtime.schedules.add("demo", "0 7 * * mon-fri", "hunt the flaky tests",
                                       tz="Europe/Berlin")
    code = await runtime.access.create_code("viewer")
    await runtime.access.pair("telegram", "7", "Vic", code.code)
    async with serving(runtime) as site:
        async with site.person("telegram:7", Role.VIEWER, "Vic") as (http, csrf):
            board = (await http.get("/")).text
            panel = board.split('id="panel-schedules"', 1)[1].split("</section>", 1)[0]
            assert "0 7 * * mon-fri" in panel and "Europe/Berlin" in panel and "next " in panel
            refused = await http.post("/do/pause_schedule", data={
                "csrf": csrf, "back": "/", "schedule": made.id})
            assert refused.status_code == 303
            assert "needs the operator role" in (await http.get("/")).text
            assert not (await runtime.schedules.get(made.id)).paused

        async with site.person() as (http, csrf):
            await http.post("/do/pause_schedule", data={"csrf": csrf, "schedule": made.id})
            assert (await runtime.schedules.get(made.id)).paused
            assert "paused" in (await http.get("/")).text.split('id="panel-schedules"')[1]
            await http.post("/do/resume_schedule", data={"csrf": csrf, "schedule": made.id})
            assert not (await runtime.schedules.get(made.id)).paused
            held = await http.post("/do/remove_schedule", data={"csrf": csrf,
                                                                 "schedule": made.id})
            assert ">Confirm</button>" in held.text and "hunt the flaky tests" in held.text
            await http.post("/do/remove_schedule", data={"csrf": csrf, "schedule": made.id,
                                                         "confirmed": "1"})
    assert await runtime.schedules.list() == []


async def test_the_panels_come_live_with_a_board_update(runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await runtime.schedules.add("demo", "30 6 * * *", "hunt the flaky tests", tz="UTC")
    async with serving(runtime) as site, site.person() as (http, _):
        after = await runtime.events.last_seq()
        queued = await runtime.runs.start_run("demo", "tidy the changelog",
                                              not_before=time.time() + 3600)
        async with http.stream("GET", "/events", params={"after": after}) as board:
            lines = board.aiter_lines()
            [update] = await messages(lines, 1)
            second = await runtime.runs.start_run("demo", "bump the parser",
                                                  not_before=time.time() + 3600)
            [again] = await messages(lines, 1)
    panels = json.loads(update.data)["patch"]["panels"]
    assert queued.id in panels["queue"] and "tidy the changelog" in panels["queue"]
    assert "30 6 * * *" in panels["schedules"] and 'name="csrf"' in panels["schedules"]
    # A page is sent only the panels that changed since it last got them.
    changed = json.loads(again.data)["patch"]["panels"]
    assert second.id in changed["queue"] and "usage" in panels and "usage" not in changed


async def test_a_panel_that_fails_leaves_the_board_live(
        runtime: Runtime, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(view: View) -> dict[str, Any]:
        raise RuntimeError("a panel with a bug")

    # A panel added the way every panel is: listed with the others.
    monkeypatch.setattr(board, "PANELS", [Panel("broken", "Broken", "panels/queue.html",
                                                 broken), *board.PANELS])
    await runtime.projects.add("demo", str(repo))
    async with serving(runtime) as site, site.person() as (http, _):
        page = (await http.get("/")).text
        assert "This panel could not be shown; the daemon's log says why." in page
        after = await runtime.events.last_seq()
        queued = await runtime.runs.start_run("demo", "tidy the changelog",
                                              not_before=time.time() + 3600)
        async with http.stream("GET", "/events", params={"after": after}) as stream:
            [update] = await messages(stream, 1)
    patch = json.loads(update.data)["patch"]
    assert "broken" not in patch["panels"] and queued.id in patch["panels"]["queue"]
    assert [c["id"] for c in patch["cards"]] == [queued.id]
