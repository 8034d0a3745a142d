"""core.events.log: the durable event log against real SQLite files, written by the real run
store and interactions, read from cursors, kept by named consumers across restarts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.events.bus import (
    Event,
    EventBus,
    InteractionAnswered,
    InteractionRequested,
    RunStateChanged,
)
from core.events.log import DAY, FORGET_CONSUMER_DAYS, EventLog, describe
from core.events.store import EventStore
from core.runs.interaction_store import InteractionStore
from core.runs.interactions import Interactions
from core.runs.store import RunStore
from core.store.db import Database
from core.types import RunState


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "gluon.db")
    await database.open()
    await database.execute("INSERT INTO projects (name, path, created_at) VALUES "
                           "('demo', '/srv/demo', 0)")
    try:
        yield database
    finally:
        await database.close()


async def new_run(store: RunStore, run_id: str) -> None:
    await store.insert(id=run_id, project="demo", prompt="fix it", model="m",
                       use_worktree=0, cwd="/srv/demo", session_id=f"s-{run_id}",
                       state_reason="started by cli")


async def states(log: EventLog, after: int = 0) -> list[tuple[str, str | None, str]]:
    page = await log.after(after, 500, kinds=[RunStateChanged])
    return [(e.run_id, e.old, e.new) for e in page.events if isinstance(e, RunStateChanged)]


async def test_a_runs_creation_and_each_transition_are_logged_in_order_with_their_reason(
        db: Database) -> None:
    bus = EventBus()
    store = RunStore(db, bus)
    with bus.subscribe() as sub:
        await new_run(store, "r1")
        await store.transition("r1", RunState.RUNNING, "agent started")
        await store.transition("r1", RunState.REVIEW, "finished")
        published = [await sub.get(timeout=5) for _ in range(3)]
    page = await store.event_log.after(0)
    assert [describe(e) for e in page.events] == [
        "run r1 queued: started by cli",
        "run r1 queued -> running: agent started",
        "run r1 running -> review: finished"]
    first = page.events[0]
    assert isinstance(first, RunStateChanged) and first.new is RunState.QUEUED
    assert first.old is None and first.project == "demo"
    seqs = [e.seq or 0 for e in page.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and page.next == seqs[-1]
    # What was published on the bus is what was stored, seq included.
    assert [e.seq for e in published] == seqs
    assert published == page.events


async def test_a_transition_that_fails_to_log_its_event_leaves_the_run_unchanged(
        db: Database) -> None:
    store = RunStore(db)
    await new_run(store, "r1")
    await db.execute("CREATE TRIGGER no_log BEFORE INSERT ON event_log "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        await store.transition("r1", RunState.RUNNING, "agent started")
    assert (await store.get("r1")).state is RunState.QUEUED
    assert [t.to_state for t in await store.transitions("r1")] == ["queued"]
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        await new_run(store, "r2")
    assert [r.id for r in await store.find()] == ["r1"]


async def test_a_transition_that_fails_to_be_stored_logs_no_event(db: Database) -> None:
    store = RunStore(db)
    await new_run(store, "r1")
    await db.execute("CREATE TRIGGER no_history BEFORE INSERT ON run_transitions "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        await store.transition("r1", RunState.RUNNING, "agent started")
    assert await states(store.event_log) == [("r1", None, RunState.QUEUED)]


async def test_questions_and_answers_are_logged_with_the_change_they_record(
        db: Database) -> None:
    bus = EventBus()
    store = RunStore(db, bus)
    await new_run(store, "r1")
    interactions = Interactions(InteractionStore(db), bus)
    asked = await interactions.create("r1", "demo", "Bash", {"command": "make deploy"})
    await interactions.answer(asked.id, "deny", "telegram:42")
    events = (await store.event_log.after(0, kinds=[InteractionRequested,
                                                   InteractionAnswered])).events
    request, answer = events
    assert isinstance(request, InteractionRequested) and request.title == "Run: make deploy"
    assert request.interaction_id == asked.id and request.options
    assert isinstance(answer, InteractionAnswered)
    assert (answer.answer, answer.answered_by) == ("deny", "telegram:42")
    # An answer whose event cannot be logged is not recorded either: it can be given again.
    again = await interactions.create("r1", "demo", "Bash", {"command": "rm -rf build"})
    await db.execute("CREATE TRIGGER no_log BEFORE INSERT ON event_log "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError):
        await interactions.answer(again.id, "allow", "cli")
    assert [p.id for p in await interactions.pending()] == [again.id]


async def test_seq_strictly_increases_under_concurrent_writers_on_two_connections(
        db: Database, tmp_path: Path) -> None:
    other = Database(tmp_path / "gluon.db")
    await other.open()
    try:
        stores = [RunStore(db), RunStore(other)]
        ids = [f"r{n}" for n in range(12)]
        await asyncio.gather(*(new_run(stores[n % 2], run_id) for n, run_id in enumerate(ids)))

        async def walk(store: RunStore, run_id: str) -> None:
            for state in (RunState.RUNNING, RunState.WAITING, RunState.RUNNING,
                          RunState.REVIEW):
                await store.transition(run_id, state, "step")

        seen: list[int] = []
        stop = asyncio.Event()

        async def reader() -> None:  # a cursor never sees a smaller seq appear behind it
            cursor = 0
            while not stop.is_set():
                page = await EventLog(EventStore(other)).after(cursor, 7)
                seen.extend(e.seq or 0 for e in page.events)
                cursor = page.next
                await asyncio.sleep(0)
            page = await EventLog(EventStore(other)).after(cursor, 500)
            seen.extend(e.seq or 0 for e in page.events)

        reading = asyncio.create_task(reader())
        await asyncio.gather(*(walk(stores[n % 2], run_id) for n, run_id in enumerate(ids)))
        stop.set()
        await reading
    finally:
        await other.close()
    events = (await EventLog(EventStore(db)).after(0, 500)).events
    seqs = [e.seq or 0 for e in events]
    assert len(events) == 12 * 5
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seen == seqs  # every event read once, in order, by a reader racing the writers
    for run_id in ids:  # and each run's events are its history, in order
        history = [(t.from_state, t.to_state) for t in await RunStore(db).transitions(run_id)]
        assert [(e.old, e.new) for e in events if isinstance(e, RunStateChanged)
                and e.run_id == run_id] == history


async def test_a_consumer_restarted_from_its_cursor_sees_every_event_once_and_in_order(
        db: Database, tmp_path: Path) -> None:
    store = RunStore(db)
    handled: list[int] = []

    async def handle(event: Event) -> None:
        assert event.seq is not None
        handled.append(event.seq)

    # A new consumer registers at the end of the log.
    assert await EventLog(EventStore(db)).consumer("pings").drain(handle) == 0
    await new_run(store, "r1")
    await store.transition("r1", RunState.RUNNING, "agent started")
    assert await EventLog(EventStore(db)).consumer("pings").drain(handle) == 2
    await store.transition("r1", RunState.REVIEW, "finished")
    await db.close()  # the process stops; a new one opens the same file
    reopened = Database(tmp_path / "gluon.db")
    await reopened.open()
    try:
        await RunStore(reopened).transition("r1", RunState.QUEUED, "resumed")
        assert await EventLog(EventStore(reopened)).consumer("pings").drain(handle) == 2
        assert await EventLog(EventStore(reopened)).consumer("pings").drain(handle) == 0
        every = [e.seq for e in (await EventLog(EventStore(reopened)).after(0)).events]
    finally:
        await reopened.close()
        await db.open()
    assert handled == every and len(every) == 4


async def test_a_consumer_retries_an_event_its_handler_failed_on_before_moving_past_it(
        db: Database) -> None:
    store = RunStore(db)
    consumer = EventLog(EventStore(db)).consumer("pings", kinds=[RunStateChanged])
    await consumer.position()
    await new_run(store, "r1")
    await store.transition("r1", RunState.RUNNING, "agent started")
    handled: list[str] = []
    failures = iter([True])

    async def flaky(event: Event) -> None:
        assert isinstance(event, RunStateChanged)
        if event.new is RunState.RUNNING and next(failures, False):
            raise ConnectionError("chat unreachable")
        handled.append(event.new)

    assert await consumer.drain(flaky) == 1 and consumer.stuck
    assert await consumer.drain(flaky) == 1 and not consumer.stuck
    assert handled == ["queued", "running"]


async def test_a_consumer_of_some_kinds_reads_past_the_others(db: Database) -> None:
    store = RunStore(db, EventBus())
    consumer = EventLog(EventStore(db)).consumer("answers", kinds=[InteractionAnswered])
    await consumer.position()
    await new_run(store, "r1")
    await Interactions(InteractionStore(db), EventBus()).create("r1", "demo", "Bash",
                                                               {"command": "ls"})

    async def nothing(event: Event) -> None:
        raise AssertionError(f"not asked for: {event}")

    assert await consumer.drain(nothing) == 0
    assert await consumer.position() == await EventLog(EventStore(db)).last_seq()


async def test_reading_by_run_and_kind_returns_a_cursor_past_what_was_filtered_out(
        db: Database) -> None:
    store = RunStore(db)
    await new_run(store, "r1")
    await new_run(store, "r2")
    await store.transition("r1", RunState.RUNNING, "agent started")
    log = EventLog(EventStore(db))
    page = await log.after(0, run_id="r2")
    assert [describe(e) for e in page.events] == ["run r2 queued: started by cli"]
    assert page.next == await log.last_seq()
    assert (await log.after(page.next, run_id="r2")).events == []
    first = await log.after(0, 1)
    assert len(first.events) == 1 and first.next == first.events[0].seq


async def test_waiting_after_a_cursor_wakes_when_the_next_event_is_stored(
        db: Database) -> None:
    bus = EventBus()
    store = RunStore(db, bus)
    log = EventLog(EventStore(db), bus)
    await new_run(store, "r1")
    end = await log.last_seq()
    waiting = asyncio.create_task(log.wait(end, run_id="r1", timeout=60))
    await asyncio.sleep(0)
    await new_run(store, "r2")  # another run's event does not end the wait
    await asyncio.sleep(0)
    assert not waiting.done()
    await store.transition("r1", RunState.RUNNING, "agent started")
    page = await asyncio.wait_for(waiting, 60)
    assert [describe(e) for e in page.events] == ["run r1 queued -> running: agent started"]
    assert (await log.wait(page.next, timeout=0)).events == []


async def test_pruning_keeps_recent_events_and_those_a_consumer_has_not_handled(
        db: Database) -> None:
    store = RunStore(db)
    log = EventLog(EventStore(db))
    slow = log.consumer("slow")
    await slow.position()
    await new_run(store, "r1")
    await store.transition("r1", RunState.RUNNING, "agent started")
    await store.transition("r1", RunState.REVIEW, "finished")
    seqs = [e.seq or 0 for e in (await log.after(0)).events]
    later = max(e.at for e in (await log.after(0)).events) + 31 * DAY
    await db.execute("UPDATE event_cursors SET seq = ?, updated_at = ?",
                     (seqs[0], later))  # handled the first event only
    assert await log.prune(now=later) == 1
    assert [e.seq for e in (await log.after(0)).events] == seqs[1:]
    # A consumer not heard of for months no longer holds the log back.
    assert await log.prune(now=later + FORGET_CONSUMER_DAYS * DAY + 1) == 2
    assert (await log.after(0)).events == []
    # Numbers are never handed out again, even once the log is empty.
    await store.transition("r1", RunState.QUEUED, "resumed")
    assert [e.seq for e in (await log.after(0)).events] == [seqs[-1] + 1]
    assert await log.prune() == 0  # recent: kept


async def test_an_event_logged_inside_a_larger_change_is_published_only_if_it_commits(
        db: Database) -> None:
    bus = EventBus()
    store = RunStore(db, bus)
    await new_run(store, "r1")
    with bus.subscribe() as sub:
        with pytest.raises(RuntimeError, match="the rest failed"):
            async with db.transaction():
                await store.transition("r1", RunState.RUNNING, "agent started")
                raise RuntimeError("the rest failed")
        assert (await store.get("r1")).state is RunState.QUEUED
        assert await states(store.event_log) == [("r1", None, RunState.QUEUED)]
        async with db.transaction():
            await store.transition("r1", RunState.RUNNING, "agent started")
            with pytest.raises(TimeoutError):  # not while the larger change is open
                await sub.get(timeout=0.05)
        published = await sub.get(timeout=5)
    assert isinstance(published, RunStateChanged) and published.new is RunState.RUNNING
    with pytest.raises(TimeoutError):
        await sub.get(timeout=0.05)


async def test_a_field_that_is_not_a_column_of_runs_is_refused_and_changes_nothing(
        db: Database) -> None:
    store = RunStore(db)
    with pytest.raises(TypeError, match="'colour'"):
        await store.insert(id="r1", project="demo", prompt="fix it", model="m",
                           use_worktree=0, cwd="/srv/demo", session_id="s", colour="red")
    with pytest.raises(TypeError, match="'1=1; DROP TABLE runs; --'"):
        await store.insert(id="r1", project="demo", prompt="fix it", model="m",
                           use_worktree=0, cwd="/srv/demo", session_id="s",
                           **{"1=1; DROP TABLE runs; --": 1})
    assert await store.find() == []
    await new_run(store, "r1")
    with pytest.raises(TypeError, match="'colour'"):
        await store.update("r1", colour="red")
    with pytest.raises(TypeError, match="'colour'"):
        await store.transition("r1", RunState.RUNNING, "agent started", colour="red")
    run = await store.get("r1")
    assert run.state is RunState.QUEUED
    assert [t.to_state for t in await store.transitions("r1")] == [RunState.QUEUED]
