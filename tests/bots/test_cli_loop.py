"""``gluon run --loop`` and ``gluon loop status`` as a user runs them, with the real Claude Code
CLI against the scripted model server: the command stays with the loop through its
iterations, and the status tells where it ended."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import Gluon, refused, run_id_of
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_a_loop_started_from_the_command_line_runs_until_both_signals_and_shows_its_status(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:auth", [
        s.write("auth.py", "def login(): ...\n"),
        s.text("Login works.\nEXIT_SIGNAL: true\nSTATUS: IN_PROGRESS")])
    model_server.script("iteration 2/4", [
        s.text("Checked it all.\nSTATUS: COMPLETE\nEXIT_SIGNAL: true")])
    gluon.ok("project", "add", str(repo))

    done = gluon("run", "demo", "SCRIPT:auth build the auth system", "--loop",
                 "--max-loops", "4", "--max-cost", "10")
    assert done.code == 0, done
    run_id = run_id_of(done)
    assert f"run {run_id} review: " in done.out

    status = gluon.json("loop", "status", run_id)
    assert (status["state"], status["iteration"], status["max_loops"], status["breaker"]) == (
        "done", 2, 4, "closed")
    assert status["max_cost_usd"] == 10 and status["spent_usd"] > 0
    shown = gluon.ok("loop", "status", run_id[:5]).out
    assert f"run {run_id}: loop 2/4 · done · breaker closed · $" in shown
    assert " of $10\n" in shown
    assert "ended: done after 2 iteration(s): the agent said it is complete" in shown
    assert "loop:     loop 2/4 · done" in gluon.ok("show", run_id).out
    assert gluon.json("show", run_id)["loop"]["state"] == "done"


def test_loop_caps_without_a_loop_and_the_status_of_a_plain_run_are_refused(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:plain", [s.text("Done.")])
    gluon.ok("project", "add", str(repo))
    assert "max_loops and max_cost_usd only apply to a loop" in refused(
        gluon("run", "demo", "do it", "--max-loops", "3"))
    done = gluon("run", "demo", "SCRIPT:plain once")
    assert done.code == 0, done
    run_id = run_id_of(done)
    assert f"run {run_id[:8]} is not a loop" in refused(gluon("loop", "status", run_id))
    assert gluon.json("show", run_id)["loop"] is None
