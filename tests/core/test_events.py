"""core.events.bus: typed events, bounded subscriber queues, predicates and waiting for a match."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.events.bus import AgentText, Event, EventBus, RunStateChanged, ToolCalled
from core.types import RunState


def text(n: int, run_id: str = "r1") -> AgentText:
    return AgentText(run_id=run_id, project="api", text=f"message {n}")


async def test_a_subscriber_receives_the_published_event_with_its_type_and_fields() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        event = RunStateChanged(run_id="r1", project="api", old=RunState.QUEUED,
                                new=RunState.RUNNING, reason="started")
        bus.publish(event)
        got = await sub.get(timeout=5)
    assert isinstance(got, RunStateChanged)
    assert got is event
    assert (got.old, got.new, got.reason) == (RunState.QUEUED, RunState.RUNNING, "started")
    assert got.at > 0


async def test_every_subscriber_gets_every_event_in_publish_order() -> None:
    bus = EventBus()
    with bus.subscribe() as a, bus.subscribe() as b:
        for n in range(3):
            bus.publish(text(n))
        for sub in (a, b):
            got = [await sub.get(timeout=5) for _ in range(3)]
            assert [e.text for e in got if isinstance(e, AgentText)] == [
                "message 0", "message 1", "message 2"]


async def test_a_subscriber_that_never_reads_does_not_block_publish_and_loses_its_oldest_events(
        ) -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=2)
    fast = bus.subscribe()
    for n in range(10):
        bus.publish(text(n))  # synchronous: returns although `slow` is full
    assert slow.dropped == 8
    kept = [await slow.get(timeout=5) for _ in range(2)]
    assert [e.text for e in kept if isinstance(e, AgentText)] == ["message 8", "message 9"]
    received = [await fast.get(timeout=5) for _ in range(10)]
    assert len(received) == 10 and fast.dropped == 0


async def test_a_predicate_lets_through_only_the_events_it_accepts() -> None:
    bus = EventBus()
    with bus.subscribe(lambda e: e.run_id == "mine" and isinstance(e, ToolCalled)) as sub:
        bus.publish(text(1, run_id="mine"))
        bus.publish(ToolCalled(run_id="other", project="api", tool="Bash", summary="ls"))
        bus.publish(ToolCalled(run_id="mine", project="api", tool="Edit", summary="app.py"))
        got = await sub.get(timeout=5)
        assert isinstance(got, ToolCalled) and got.tool == "Edit"
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.01)


async def test_a_failing_predicate_does_not_stop_publishing_to_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event) -> bool:
        raise KeyError("bug in a subscriber")

    bus = EventBus()
    bus.subscribe(broken)
    with bus.subscribe() as healthy, caplog.at_level(logging.ERROR, logger="core.events.bus"):
        bus.publish(text(1))
        assert isinstance(await healthy.get(timeout=5), AgentText)
    assert "event subscriber failed on AgentText" in caplog.text


async def test_a_closed_subscription_receives_nothing_more() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=1)
    sub.close()
    sub.close()  # closing twice is harmless
    bus.publish(text(1))
    bus.publish(text(2))
    assert sub.dropped == 0  # a subscribed queue of one would have dropped the first
    with pytest.raises(TimeoutError):
        await sub.get(timeout=0.01)


async def test_leaving_the_with_block_unsubscribes() -> None:
    bus = EventBus()
    with bus.subscribe(maxsize=1) as sub:
        bus.publish(text(1))
    bus.publish(text(2))
    bus.publish(text(3))
    assert sub.dropped == 0
    first = await sub.get(timeout=5)
    assert isinstance(first, AgentText) and first.text == "message 1"


async def test_next_matching_skips_other_events_and_returns_the_first_match() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        bus.publish(text(1))
        bus.publish(RunStateChanged(run_id="r1", project="api", old=RunState.RUNNING,
                                    new=RunState.WAITING, reason="question"))
        bus.publish(RunStateChanged(run_id="r1", project="api", old=RunState.WAITING,
                                    new=RunState.REVIEW, reason="done"))
        got = await sub.next_matching(
            lambda e: isinstance(e, RunStateChanged) and e.new is RunState.REVIEW, timeout=5)
    assert isinstance(got, RunStateChanged) and got.reason == "done"


async def test_next_matching_waits_for_an_event_published_later() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        waiter = asyncio.create_task(
            sub.next_matching(lambda e: isinstance(e, ToolCalled), timeout=5))
        bus.publish(text(1))
        bus.publish(ToolCalled(run_id="r1", project="api", tool="Bash", summary="pytest"))
        got = await waiter
    assert isinstance(got, ToolCalled) and got.summary == "pytest"


async def test_next_matching_gives_up_after_its_timeout() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        bus.publish(text(1))
        with pytest.raises(TimeoutError):
            await sub.next_matching(lambda e: isinstance(e, ToolCalled), timeout=0.05)


async def test_a_subscription_can_be_iterated() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        for n in range(3):
            bus.publish(text(n))
        seen: list[str] = []
        async with asyncio.timeout(5):
            async for event in sub:
                assert isinstance(event, AgentText)
                seen.append(event.text)
                if len(seen) == 3:
                    break
    assert seen == ["message 0", "message 1", "message 2"]


async def test_a_subscriber_cancelled_just_as_an_event_arrives_stops_waiting() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        waiting = asyncio.create_task(sub.get(timeout=30))
        await asyncio.sleep(0)  # the subscriber is waiting
        bus.publish(text(1))
        waiting.cancel()  # in the same turn of the loop: stopping wins over the event
        with pytest.raises(asyncio.CancelledError):
            await waiting
