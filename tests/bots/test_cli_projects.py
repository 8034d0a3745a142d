"""Projects from the command line as a new user meets them: a repository moved on disk, names
that are too long, model names typed in any case."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.bots.conftest import COMMIT_HELLO, Gluon, refused, run_id_of
from tests.conftest import git
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_a_moved_repository_is_told_to_gluon_with_project_move_and_its_run_merges(
        gluon: Gluon, repo: Path, tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hello", [s.bash(COMMIT_HELLO), s.text("Committed.")])
    gluon.ok("project", "add", str(repo))
    run_id = run_id_of(gluon.ok("run", "demo", "SCRIPT:hello commit hello", "--wait"))

    moved = tmp_path / "code" / "demo"
    moved.parent.mkdir()
    shutil.move(repo, moved)
    line = refused(gluon("diff", run_id))
    assert f"project 'demo' was at '{repo}', which no longer exists" in line
    assert "gluon project move demo NEW_PATH" in line
    assert [r["id"] for r in gluon.json("runs", "--project", "demo")["runs"]] == [run_id]

    moved_out = gluon.ok("project", "move", "demo", "demo", cwd=moved.parent).out
    assert moved_out.strip() == f"project demo is now at {moved}"
    assert "hello.txt" in gluon.ok("diff", run_id).out
    assert gluon.ok("merge", run_id, "--yes").out.strip() == f"merged gluon/{run_id} into main"
    assert (moved / "hello.txt").read_text() == "hello\n"
    assert git(moved, "status", "--porcelain") == ""


def test_a_name_too_long_says_the_limit_and_the_help_states_it(
        gluon: Gluon, repo: Path) -> None:
    line = refused(gluon("project", "add", str(repo), "--name", "a" * 65))
    assert "(65 characters)" in line and "1 to 64 lowercase letters" in line
    assert "1 to 64 lowercase letters" in " ".join(
        gluon.ok("project", "add", "--help").out.split())


def test_a_model_alias_is_taken_in_any_case(gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    run = gluon.json("run", "demo", "SCRIPT:none say hi", "--model", "Opus", "--wait")["run"]
    assert run["model"] == "opus"
