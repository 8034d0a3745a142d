"""A conversation that outgrows the model's context goes on in a fresh session with a summary."""

from __future__ import annotations

from pathlib import Path

from core.events.bus import RunNote
from core.runs import overflow
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

TOO_LONG = "prompt is too long: 250000 tokens > 200000 maximum"


async def notes(rt: Runtime, run_id: str) -> list[str]:
    page = await rt.events.after(0, 100, kinds=[RunNote], run_id=run_id)
    return [e.text for e in page.events if isinstance(e, RunNote) and e.source == "overflow"]


async def test_a_run_whose_prompt_is_too_long_goes_on_in_a_fresh_session_with_a_summary(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:ovf", [s.error(400, TOO_LONG)])
    # The summary quotes the task: this longer key answers the fresh session.
    model_server.script("The task:\nSCRIPT:ovf", [s.write("after.txt", "fresh\n"),
                                                 s.text("finished from the summary")])
    await runtime.projects.add("demo", str(repo))
    run = await runtime.runs.start_run("demo", "SCRIPT:ovf add a file")
    first_session = run.session_id
    ended = await wait_state(runtime, run.id)

    assert ended.state is RunState.REVIEW, ended.state_reason
    assert ended.session_id != first_session
    assert ended.result_text == "finished from the summary"
    assert [f.path for f in ended.changed_files] == ["after.txt"]
    assert await notes(runtime, run.id) == [overflow.NOTE]
    fresh = model_server.wait_for_request(lambda r: r.script_key == "The task:\nSCRIPT:ovf")
    assert "outgrew the model's context" in fresh.all_text()
    states = [t.to_state for t in await runtime.runs.store.transitions(run.id)]
    assert states == [RunState.QUEUED, RunState.RUNNING, RunState.QUEUED, RunState.RUNNING,
                      RunState.REVIEW]


async def test_recover_continues_an_ended_run_in_a_fresh_session_that_knows_its_work(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:rec", [s.write("first.txt", "one\n"), s.text("wrote first.txt")])
    model_server.script("The task:\nSCRIPT:rec", [s.text("picked up from the summary")])
    await runtime.projects.add("demo", str(repo))
    run = await runtime.runs.start_run("demo", "SCRIPT:rec start")
    ended = await wait_state(runtime, run.id)
    assert ended.state is RunState.REVIEW

    await runtime.runs.recover(run.id, actor="alice")
    again = await wait_state(runtime, run.id)

    assert again.state is RunState.REVIEW and again.session_id != ended.session_id
    assert again.result_text == "picked up from the summary"
    fresh = model_server.wait_for_request(lambda r: r.script_key == "The task:\nSCRIPT:rec")
    assert "first.txt" in fresh.all_text() and "wrote first.txt" in fresh.all_text()
    assert await notes(runtime, run.id) == [
        "📦 alice continued the run in a fresh session with a summary"]
