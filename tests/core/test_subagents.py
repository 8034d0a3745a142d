"""Subagents the agent spawns (its Task tool) are counted on the run, and a run does not end
while one of them still works in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from core.events.bus import Event, RunStateChanged, SubagentsChanged, Subscription
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

TASK: dict[str, object] = {"description": "look around", "prompt": "SCRIPT:helper look around",
        "subagent_type": "general-purpose"}


async def events_until(events: Subscription, last: Callable[[RunStateChanged], bool]
                       ) -> list[Event]:
    """The events up to the state change ``last`` holds for (or the run's end)."""
    seen: list[Event] = []
    async with asyncio.timeout(60):
        while True:
            seen.append(event := await events.get())
            if isinstance(event, RunStateChanged) and (last(event) or event.new.is_ended):
                return seen


async def test_a_run_waits_for_its_subagent_and_counts_it(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:lead", [s.tool("Task", TASK), s.text("Asked a helper."),
                                        s.text("The helper found app.py.")])
    # The helper goes on in the background after the lead's turn ended, until released.
    model_server.script("SCRIPT:helper", [s.hold("helper", s.bash("ls")),
                                          s.text("Found app.py.")])
    await runtime.projects.add("demo", str(repo))
    with runtime.bus.subscribe(lambda e: isinstance(e, RunStateChanged | SubagentsChanged)
                               ) as events:
        run = await runtime.runs.start_run("demo", "SCRIPT:lead go")
        await events_until(events, lambda e: e.reason == "waiting for 1 subagent")
        waiting = await runtime.runs.get(run.id)
        assert waiting.state is RunState.RUNNING, waiting.state_reason
        assert (waiting.subagents_started, waiting.subagents_done) == (1, 0)
        assert waiting.result_text == "Asked a helper."  # its turn ended, the run did not
        model_server.release("helper")
        later = await events_until(events, lambda e: False)
        done = await runtime.runs.get(run.id)

    assert done.state is RunState.REVIEW, done.state_reason
    assert (done.subagents_started, done.subagents_done) == (1, 1)
    assert done.subagents_line() == "1 subagent: 1 done"
    assert done.result_text == "The helper found app.py."  # the turn that read its results
    counted = [(e.started, e.done, e.live) for e in later if isinstance(e, SubagentsChanged)]
    assert counted == [(1, 1, 0)]
    log = [e.summary for e in await runtime.runs.store.events(run.id) if e.kind == "subagent"]
    assert log == ["general-purpose subagent started", "general-purpose subagent done"]
    reasons = [t.reason for t in await runtime.runs.store.transitions(run.id)]
    assert "waiting for 1 subagent" in reasons


async def test_a_subagent_that_sends_nothing_for_the_idle_timeout_ends_with_the_run(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:lead", [s.tool("Task", TASK), s.text("Asked a helper.")])
    model_server.script("SCRIPT:helper", [s.hold("never")])  # it never answers
    config = make_config(tmp_path / "home", model_server, idle_timeout_seconds=1)
    runtime = Runtime(config, environ=daemon_environ())
    await runtime.open()
    try:
        await runtime.projects.add("demo", str(repo))
        run = await runtime.runs.start_run("demo", "SCRIPT:lead go")
        done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=60)
    finally:
        await runtime.close()
    assert done.state is RunState.REVIEW
    assert done.state_reason == ("the agent finished its task; 1 subagent sent nothing for "
                                 "1 s and was stopped")
    assert (done.subagents_started, done.subagents_done) == (1, 0)
    assert done.subagents_line() == "1 subagent: 0 done"
    assert done.result_text == "Asked a helper."
