"""The autonomous loop with scripted agents (the real Claude Code CLI against the scripted
model server, real git): it ends on the agent's two signals (not on one), on a ticked
checklist, when its circuit breaker opens, at its cost cap, and it waits for its hourly cap."""

from __future__ import annotations

import time
from pathlib import Path

from core.events.bus import RunNote, RunStateChanged
from core.loops.types import BreakerState, LoopState
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

STUCK = "Looked again.\nSTATUS: IN_PROGRESS\nEXIT_SIGNAL: false\nERROR: ImportError in auth.py"


async def notes(runtime: Runtime, run_id: str) -> list[str]:
    page = await runtime.events.after(0, 100, kinds=[RunNote], run_id=run_id)
    return [e.text for e in page.events if isinstance(e, RunNote) and e.source == "loop"]


async def test_a_loop_goes_on_after_one_signal_and_ends_when_the_agent_gives_both(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:auth", [
        s.write("auth.py", "def login(): ...\n"),
        s.text("Login is there.\nSTATUS: COMPLETE\nEXIT_SIGNAL: false\nERROR: none")])
    model_server.script("iteration 2/5", [
        s.write("logout.py", "def logout(): ...\n"),
        s.text("All of it is done.\nSTATUS: COMPLETE\nEXIT_SIGNAL: true\nERROR: none")])
    await runtime.projects.add("demo", str(repo))
    run = await runtime.loops.start("demo", "SCRIPT:auth build the auth system", max_loops=5,
                                    max_cost_usd=None, max_calls_per_hour=None, actor="ada")
    assert "End every reply with this status block" in run.prompt
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)

    assert done.state is RunState.REVIEW, done.state_reason
    assert {f.path for f in done.changed_files} == {"auth.py", "logout.py"}
    status = await runtime.loops.status(run.id[:6])
    assert (status.state, status.iteration, status.breaker) == (LoopState.DONE, 2,
                                                               BreakerState.CLOSED)
    assert status.stopped_reason == "done after 2 iteration(s): the agent said it is complete"
    [second] = [r for r in model_server.requests if r.script_key == "iteration 2/5"][:1]
    assert "without `EXIT_SIGNAL: true`" in second.all_text()  # one signal is not enough
    said = await notes(runtime, run.id)
    assert said[-1] == ("🔁 Loop done after 2 iteration(s): the agent said it is complete.")
    reasons = [t.reason for t in await runtime.runs.store.transitions(run.id)]
    assert "loop 2/5" in reasons


async def test_the_breaker_opens_when_the_agent_changes_nothing_and_says_why(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:stuck", [s.text(STUCK)])
    model_server.script("Continue: iteration", [s.text(STUCK)])
    await runtime.projects.add("demo", str(repo))
    run = await runtime.loops.start("demo", "SCRIPT:stuck fix the login", max_loops=10,
                                    max_cost_usd=None, max_calls_per_hour=None, actor="ada")
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)

    why = ("the circuit breaker opened: no file change or commit in 3 iterations "
           "(same error: ImportError in auth.py)")
    assert (done.state, done.state_reason) == (RunState.REVIEW, f"loop stopped: {why}")
    status = await runtime.loops.status(run.id)
    assert (status.state, status.iteration, status.breaker, status.no_progress) == (
        LoopState.STOPPED, 3, BreakerState.OPEN, 3)
    third = [r for r in model_server.requests if r.script_key == "Continue: iteration"][-1]
    assert "iteration 3/10" in third.all_text() and "one more like that" in third.all_text()
    said = await notes(runtime, run.id)
    assert said[-1] == f"🛑 Loop stopped after 3 iteration(s): {why}."
    assert any("breaker opens after one more" in n for n in said)


async def test_a_ticked_checklist_ends_a_loop_and_the_cost_and_iteration_caps_stop_one(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:todo", [
        s.write("TODO.md", "# Auth\n- [x] login\n- [x] logout\n"),
        s.text("Ticked everything.")])
    model_server.script("SCRIPT:pricey", [s.write("a.py", "a = 1\n"), s.text("Working.")])
    model_server.script("SCRIPT:short", [s.write("b.py", "b = 1\n"), s.text("Working.")])
    await runtime.projects.add("demo", str(repo))
    todo = await runtime.loops.start("demo", "SCRIPT:todo do the list", max_loops=5,
                                     max_cost_usd=None, max_calls_per_hour=None, actor="ada")
    pricey = await runtime.loops.start("demo", "SCRIPT:pricey spend", max_loops=5,
                                       max_cost_usd=0.000001, max_calls_per_hour=None,
                                       actor="ada")
    short = await runtime.loops.start("demo", "SCRIPT:short go", max_loops=1, max_cost_usd=None,
                                      max_calls_per_hour=None, actor="ada")
    ticked = await wait_state(runtime, todo.id, RunState.REVIEW, RunState.FAILED, timeout=120)
    one = await wait_state(runtime, short.id, RunState.REVIEW, RunState.FAILED, timeout=120)
    assert one.state_reason == "loop stopped: it reached its limit of 1 iterations"
    capped = await wait_state(runtime, pricey.id, RunState.REVIEW, RunState.FAILED, timeout=120)

    assert ticked.state is RunState.REVIEW and ticked.state_reason == "the agent finished its task"
    assert (await runtime.loops.status(todo.id)).stopped_reason == (
        "done after 1 iteration(s): every item of TODO.md is ticked")
    assert capped.state is RunState.REVIEW and capped.cost_usd > 0
    assert capped.state_reason.startswith("loop stopped: its cost cap of $0.00 was reached ($")
    status = await runtime.loops.status(pricey.id)
    assert status.state is LoopState.STOPPED and status.spent_usd == round(capped.cost_usd, 6)
    assert (await notes(runtime, pricey.id))[-1].startswith("💸 Loop stopped after 1 iteration")


async def test_the_hourly_cap_holds_the_next_iteration_back_and_the_run_waits_queued(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:slowly", [s.write("a.py", "a = 1\n"), s.text("Step one.")])
    await runtime.projects.add("demo", str(repo))
    with runtime.bus.subscribe(lambda e: isinstance(e, RunStateChanged)
                               and e.new is RunState.QUEUED and e.old is RunState.RUNNING
                               ) as parking:
        run = await runtime.loops.start("demo", "SCRIPT:slowly go", max_loops=5,
                                        max_cost_usd=None, max_calls_per_hour=1, actor="ada")
        await parking.get(timeout=120)
    parked = await runtime.runs.get(run.id)
    before = time.time()

    assert parked.state_reason == "loop 2/5: waits for the hourly cap of 1 iterations"
    assert parked.not_before is not None and before + 3000 < parked.not_before < before + 3601
    status = await runtime.loops.status(run.id)
    assert (status.state, status.iteration) == (LoopState.ACTIVE, 2)
    assert any(n.startswith("⏳ Loop: 1 iteration(s) in the last hour") for n in
               await notes(runtime, run.id))
