"""``gluon run`` says what a run will likely cost; ``gluon recover`` continues a run afresh."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import Gluon, run_id_of
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_run_prints_the_cost_estimate_and_recover_goes_on_in_a_fresh_session(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:est", [s.text("done")])
    model_server.script("The task:\nSCRIPT:est", [s.text("carried on from the summary")])
    gluon.ok("project", "add", str(repo))
    first = gluon.ok("run", "demo", "SCRIPT:est one", "--wait")
    assert "likely cost" not in first.out  # no history yet
    for n in ("two", "three"):
        gluon.ok("run", "demo", f"SCRIPT:est {n}", "--wait")
    fourth = gluon.ok("run", "demo", "SCRIPT:est four", "--wait")
    assert "this run will likely cost: usually $" in fourth.out
    assert "(from the last 3 runs of demo)" in fourth.out

    run_id = run_id_of(fourth)
    before = gluon.json("show", run_id)["run"]
    recovered = gluon.ok("recover", run_id, "--wait")
    assert f"run {run_id} review: " in recovered.out
    after = gluon.json("show", run_id)["run"]
    assert after["session_id"] != before["session_id"]
    assert after["result_text"] == "carried on from the summary"
