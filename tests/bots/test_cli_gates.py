"""``gluon gates RUN`` and the gates in ``gluon show``, as a user runs them without a daemon."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import Gluon, refused, run_id_of
from tests.conftest import git
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_gluon_gates_shows_each_gate_and_with_verbose_every_attempt_and_its_output(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    (repo / ".gluon").mkdir()
    (repo / ".gluon" / "project.toml").write_text(
        '[gates]\nlint = "echo \'x.txt:1: Found 1 error.\'; exit 1"\ntest = "echo ok"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gates")
    gluon.home.mkdir()
    (gluon.home / "config.toml").write_text("[gates]\nmax_fixes = 0\n")
    model_server.script("SCRIPT:x", [s.write("x.txt", "x\n"), s.text("Done.")])
    gluon.ok("project", "add", str(repo))
    run_id = run_id_of(gluon.ok("run", "demo", "SCRIPT:x go", "--wait"))

    shown = gluon.ok("gates", run_id).out.splitlines()
    lint = "gate:     FAIL lint: 1 error left (1 run of `echo 'x.txt:1: Found 1 error.'; exit 1`)"
    assert shown == [f"run {run_id}", f"  {lint}"]
    verbose = gluon.ok("gates", run_id, "-v").out
    assert "lint attempt 1: failed in " in verbose and "  | x.txt:1: Found 1 error." in verbose
    assert f"  {lint}" in gluon.ok("show", run_id).out.splitlines()
    data = gluon.json("gates", run_id)
    assert [g["gate"] for g in data["gates"]] == ["lint"]
    assert "no run 'ffff'" in refused(gluon("gates", "ffff"))
