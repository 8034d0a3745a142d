"""``gluon formula``: list, show, validate and run formulas from the command line."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import Gluon, refused, run_id_of
from tests.conftest import git
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_the_builtin_bugfix_formula_runs_its_three_steps_as_one_run(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    # Each step's prompt holds the description; its own words pick its script (the longer
    # key wins).
    model_server.script("SCRIPT:bug", [s.text("CAUSE: the token check ignores expiry")])
    model_server.script("Fix the bug described below",
                        [s.write("fix.txt", "fixed\n"), s.text("FIXED the expiry check")])
    model_server.script("Write a regression test",
                        [s.write("test_fix.txt", "ok\n"), s.text("TESTED: 1 passed")])
    # The project's test gate passes once the fix is in: had it run after the diagnosis
    # (a planning step), it would have failed and sent the agent back.
    (repo / ".gluon").mkdir()
    (repo / ".gluon" / "project.toml").write_text('[gates]\ntest = "test -f fix.txt"\n')
    git(repo, "add", ".gluon")
    git(repo, "commit", "-qm", "gates")
    gluon.ok("project", "add", str(repo))
    done = gluon("formula", "run", "bugfix", "demo",
                 "--var", "description=SCRIPT:bug login fails on expired tokens")
    assert done.code == 0, done
    run_id = run_id_of(done)
    assert f"run {run_id} review: " in done.out

    shown = gluon.json("show", run_id)
    assert shown["formula"] == {"name": "bugfix", "step": 3, "steps": 3, "step_name": "test",
                                "finished": True}
    assert shown["run"]["result_text"] == "TESTED: 1 passed"
    # The gates ran after the fix and after the test step, not after the diagnosis.
    assert [(g["gate"], g["passed"], g["attempts"]) for g in shown["gates"]] == [
        ("test", True, 2)]
    assert not [r for r in model_server.requests if "test -f fix.txt" in r.last_user_text()]
    assert git(repo, "show", f"gluon/{run_id}:fix.txt") == "fixed"
    assert git(repo, "show", f"gluon/{run_id}:test_fix.txt") == "ok"
    asked = {r.script_key: r for r in model_server.requests if r.script_key}
    assert len({r.session_id for r in asked.values()}) == 3
    fix = asked["Fix the bug described below"].all_text()
    assert "CAUSE: the token check ignores expiry" in fix
    assert "FIXED the expiry check" in asked["Write a regression test"].all_text()


def test_formula_list_show_and_validate(gluon: Gluon, tmp_path: Path) -> None:
    table = gluon.ok("formula", "list").out.splitlines()
    assert table[0].split() == ["NAME", "STEPS", "VARS", "FROM"]
    assert table[1].split()[:6] == ["bugfix", "diagnose", ">", "fix", ">", "test"]
    assert "description*" in table[1] and "builtin: bugfix.yml" in table[1]
    shown = gluon.ok("formula", "show", "feature").out
    assert "  var description (required): the feature, in plain words" in shown
    assert "  4. review (review): Review the work on this branch" in shown
    assert gluon.ok("formula", "validate", "bugfix").out.strip() == (
        "bugfix: valid (3 steps: diagnose, fix, test)")

    bad = tmp_path / "mine.yml"
    bad.write_text("steps:\n  - name: one\n    promt: hi\n")
    assert refused(gluon("formula", "validate", str(bad))) == (
        "gluon: mine.yml line 3: unknown key 'promt'; did you mean 'prompt'?")


def test_formula_run_refuses_bad_variables_before_anything_runs(
        gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    assert refused(gluon("formula", "run", "bugfix", "demo")) == (
        "gluon: formula 'bugfix' needs the variable 'description' (the bug, as a user would "
        "report it); give it as description=...")
    assert "has no variable 'title'" in refused(
        gluon("formula", "run", "bugfix", "demo", "--var", "description=x", "--var", "title=y"))
    assert "is not KEY=VALUE" in refused(
        gluon("formula", "run", "bugfix", "demo", "--var", "description"))
    assert gluon.json("runs")["runs"] == []
