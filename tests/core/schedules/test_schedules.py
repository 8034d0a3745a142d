"""Schedules fire runs: once per slot, once after downtime, by their overlap policy, across
DST. A clock moved by hand; real runs of the Claude Code CLI against the scripted model
server, real git, real SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.chat.migrations import CHAT_TABLES
from core.config import Config
from core.errors import InvalidInput, NotFound
from core.runtime import Runtime
from core.schedules import Fire
from core.schedules.service import key_of
from core.types import RunState
from tests.conftest import daemon_environ, wait_state
from tests.fakes import scripts as s
from tests.fakes.clock import ManualClock
from tests.fakes.model_server import ScriptedModelServer

START = dt.datetime(2030, 1, 7, 8, 0, tzinfo=dt.UTC).timestamp()  # a Monday, 08:00 UTC


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def rt(config: Config, clock: ManualClock, repo: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES], clock=clock)
    await runtime.open()
    await runtime.projects.add("demo", str(repo))
    try:
        yield runtime
    finally:
        await runtime.close()


async def test_a_schedule_fires_at_its_time_once_and_then_waits_for_the_next(
        rt: Runtime, clock: ManualClock) -> None:
    added = await rt.schedules.add("demo", "0 9 * * *", "nightly check", tz="UTC",
                                   actor="telegram:42")
    assert added.next_fires == [START + 3600, START + 3600 + 86400, START + 3600 + 2 * 86400]
    clock.advance(3599)
    assert await rt.schedules.tick() == 0
    clock.advance(1)
    assert await rt.schedules.tick() == 1
    assert await rt.schedules.tick() == 0
    [run] = await rt.runs.find()
    assert (run.key, run.source, run.created_by, run.prompt) == (
        f"cron:{added.id}:2030-01-07T09:00:00Z", "cron", "telegram:42", "nightly check")
    after = await rt.schedules.view(added.id)
    assert (after.fires, after.last_fire_at, after.last_run_id) == (1, START + 3600, run.id)
    assert after.next_fire_at == START + 3600 + 86400
    assert after.last_result == f"started run {run.id}"
    await wait_state(rt, run.id)


async def test_slots_missed_while_gluon_was_down_fire_once(
        rt: Runtime, clock: ManualClock) -> None:
    added = await rt.schedules.add("demo", "0 * * * *", "hourly", tz="UTC")
    clock.advance(3 * 86400 + 1800)  # down for three days and a half hour
    assert await rt.schedules.tick() == 1
    [run] = await rt.runs.find()
    assert run.key == f"cron:{added.id}:2030-01-07T09:00:00Z"  # the first slot it missed
    assert (await rt.schedules.view(added.id)).next_fire_at == START + 3 * 86400 + 3600
    assert await rt.schedules.tick() == 0
    await wait_state(rt, run.id)


async def test_a_slot_fired_by_a_gluon_that_died_before_recording_it_is_not_fired_again(
        rt: Runtime, clock: ManualClock) -> None:
    added = await rt.schedules.add("demo", "0 9 * * *", "once", tz="UTC")
    clock.advance(3600)
    schedule = await rt.schedules.get(added.id)
    assert schedule.next_fire_at is not None
    # What the dead Gluon did: the run for the slot is queued, the slot not yet moved on.
    first = await rt.schedules.start(Fire(schedule, schedule.next_fire_at,
                                          key_of(schedule.id, schedule.next_fire_at)))
    assert await rt.schedules.tick() == 1
    assert [r.id for r in await rt.runs.find()] == [first.id]
    assert (await rt.schedules.view(added.id)).last_run_id == first.id
    await wait_state(rt, first.id)


async def test_overlap_skip_fires_nothing_while_the_last_run_is_live(
        rt: Runtime, clock: ManualClock, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:long", [s.hold("long", then=s.text("done"))])
    added = await rt.schedules.add("demo", "*/10 * * * *", "SCRIPT:long", tz="UTC")
    clock.advance(600)
    await rt.schedules.tick()
    [first] = await rt.runs.find()
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:long")
    clock.advance(600)
    await rt.schedules.tick()
    assert [r.id for r in await rt.runs.find()] == [first.id]
    view = await rt.schedules.view(added.id)
    assert view.last_result == f"skipped: run {first.id} is still running"
    assert view.next_fire_at == START + 1800
    model_server.release("long")
    await wait_state(rt, first.id)
    clock.advance(600)
    await rt.schedules.tick()
    assert len(await rt.runs.find()) == 2


async def test_overlap_queue_holds_the_next_run_until_the_last_one_ends(
        rt: Runtime, clock: ManualClock, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:q", [s.hold("q", then=s.text("first done")),
                                     s.text("second done")])
    await rt.schedules.add("demo", "*/10 * * * *", "SCRIPT:q", tz="UTC", overlap="queue")
    clock.advance(600)
    await rt.schedules.tick()
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:q")
    clock.advance(600)
    await rt.schedules.tick()
    second, first = await rt.runs.find()  # newest first
    await rt.runs.executor.pump()
    waiting = await rt.runs.get(second.id)
    assert waiting.state is RunState.QUEUED
    assert waiting.state_reason == (f"waiting: the previous run {first.id} of schedule "
                                    f"{first.key.split(':')[1] if first.key else ''} is still "
                                    "running")
    [item] = await rt.work.items()
    assert item.id == second.id and item.why == waiting.state_reason
    model_server.release("q")
    done = [await wait_state(rt, r.id) for r in (first, second)]
    assert [r.state for r in done] == [RunState.REVIEW, RunState.REVIEW]
    assert (done[1].started_at or 0) >= (done[0].ended_at or 0)


async def test_overlap_parallel_starts_the_next_run_next_to_the_live_one(
        rt: Runtime, clock: ManualClock, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:p", [s.hold("p", then=s.text("done"))])
    await rt.schedules.add("demo", "*/10 * * * *", "SCRIPT:p", tz="UTC",
                           overlap="parallel")
    for _ in range(2):
        clock.advance(600)
        await rt.schedules.tick()
    runs = await rt.runs.find()
    assert len(runs) == 2
    for run in runs:
        await wait_state(rt, run.id, RunState.RUNNING)
    model_server.release("p")
    for run in runs:
        assert (await wait_state(rt, run.id)).state is RunState.REVIEW


async def test_a_schedule_fires_once_through_a_fall_back_night(
        rt: Runtime, clock: ManualClock) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock.t = dt.datetime(2030, 10, 26, 23, 0, tzinfo=berlin).timestamp()  # Sat 23:00
    added = await rt.schedules.add("demo", "30 2 * * *", "night job", tz="Europe/Berlin")
    for _ in range(5 * 4):  # the night, a pass every 15 minutes
        clock.advance(900)
        await rt.schedules.tick()
    [run] = await rt.runs.find()
    assert run.key == f"cron:{added.id}:2030-10-27T00:30:00Z"  # 02:30 +02:00, the first one
    nxt = (await rt.schedules.view(added.id)).next_fire_at
    assert nxt is not None
    assert dt.datetime.fromtimestamp(nxt, berlin).isoformat() == "2030-10-28T02:30:00+01:00"
    await wait_state(rt, run.id)


async def test_pause_stops_fires_and_resume_starts_from_the_next_slot(
        rt: Runtime, clock: ManualClock) -> None:
    added = await rt.schedules.add("demo", "0 9 * * *", "daily", tz="UTC")
    paused = await rt.schedules.pause(added.id[:4])
    assert paused.paused and paused.next_fires == [] and paused.next_fire_at is None
    clock.advance(2 * 86400)
    assert await rt.schedules.tick() == 0
    resumed = await rt.schedules.resume(added.id)
    assert resumed.next_fire_at == START + 2 * 86400 + 3600
    removed = await rt.schedules.remove(added.id)
    assert removed.id == added.id
    assert await rt.schedules.list() == []
    with pytest.raises(NotFound, match=f"no schedule '{added.id}'"):
        await rt.schedules.pause(added.id)


async def test_bad_schedules_are_refused_in_one_line_and_nothing_is_added(
        rt: Runtime) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        (dict(cron_expr="0 9 * *"), "`0 9 * *`: 4 fields, expected 5"),
        (dict(cron_expr="0 9 * * *", tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (dict(cron_expr="0 9 * * *", overlap="sometimes"), "overlap 'sometimes' is not one"),
        (dict(cron_expr="0 9 * * *", project="gone"), "no project named 'gone'"),
        (dict(cron_expr="0 9 * * *", prompt="  "), "the prompt is empty"),
        (dict(cron_expr="0 9 * * *", priority=1000), "priority 1000 is not valid"),
    ]
    for kwargs, words in cases:
        args: dict[str, object] = {"project": "demo", "prompt": "task", **kwargs}
        with pytest.raises((InvalidInput, NotFound)) as caught:
            await rt.schedules.add(**args)  # type: ignore[arg-type]
        assert words in str(caught.value) and "\n" not in str(caught.value)
    assert await rt.schedules.list() == []


async def test_removing_a_project_removes_its_schedules(rt: Runtime) -> None:
    await rt.schedules.add("demo", "0 9 * * *", "daily", tz="UTC")
    await rt.runs.remove_project("demo")
    assert await rt.schedules.list() == []
